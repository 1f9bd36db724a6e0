use std::sync::Arc;

use arc_swap::ArcSwap;
use gthulhu_domain::comm_regex;
use gthulhu_domain::{DmError, StrategyTemplate};
use regex::bytes::Regex;

/// A validated legacy template with its regex compiled once.
pub struct CompiledTemplate {
    pub template: StrategyTemplate,
    pub regex: Option<Regex>,
}

/// Legacy BSS templates (standalone mode), replaced as a whole.
#[derive(Default)]
pub struct TemplateStore {
    templates: ArcSwap<Vec<CompiledTemplate>>,
}

impl TemplateStore {
    pub fn load(&self) -> Arc<Vec<CompiledTemplate>> {
        self.templates.load_full()
    }

    pub fn replace(&self, templates: Vec<StrategyTemplate>) -> Result<(), DmError> {
        let compiled = templates
            .into_iter()
            .enumerate()
            .map(|(i, template)| {
                if template.pid < 0 {
                    return Err(DmError::Validation(format!(
                        "strategies[{i}].pid must be a positive integer"
                    )));
                }
                if let Some(j) = template.selectors.iter().position(|s| s.key.is_empty()) {
                    return Err(DmError::Validation(format!(
                        "strategies[{i}].selectors[{j}].key is required"
                    )));
                }
                let regex = comm_regex::compile(&template.command_regex).map_err(|detail| {
                    DmError::Validation(format!(
                        "strategies[{i}].command_regex: invalid regular expression: {detail}"
                    ))
                })?;
                Ok(CompiledTemplate { template, regex })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.templates.store(Arc::new(compiled));
        Ok(())
    }
}
