//! The DM client against the real DM app of this workspace and against a
//! recording mock DM (manager.md 17.11).

mod helpers;
mod mock_dm;
mod mtls;
mod real_dm;
