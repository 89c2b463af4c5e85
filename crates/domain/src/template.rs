//! Message templates: text with `{{variable}}` placeholders, parsed once, rendered many
//! times. A variable name is letters, digits and `_`, and may use dots to reach into
//! nested data (`{{order.number}}`). A missing variable is an error that names it; data
//! the template does not use is fine.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// A parsed template. Rendering cannot fail on syntax, only on missing data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Variable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template is empty")]
    Empty,
    #[error("placeholder opened at character {position} is never closed with '}}}}'")]
    Unclosed { position: usize },
    #[error("placeholder at character {position} has no variable name")]
    EmptyName { position: usize },
    #[error("'{name}' at character {position} is not a valid variable name (letters, digits, '_' and '.')")]
    BadName { name: String, position: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("missing template variable(s): {}", .0.join(", "))]
    Missing(Vec<String>),
    #[error("template variable(s) must be text, numbers or booleans: {}", .0.join(", "))]
    NotScalar(Vec<String>),
}

impl Template {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        if source.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut parts = Vec::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let position = source[..offset + open].chars().count();
            let after_open = &rest[open + 2..];
            let close = after_open
                .find("}}")
                .ok_or(TemplateError::Unclosed { position })?;
            let name = after_open[..close].trim();
            if name.is_empty() {
                return Err(TemplateError::EmptyName { position });
            }
            if !is_valid_name(name) {
                return Err(TemplateError::BadName {
                    name: name.to_owned(),
                    position,
                });
            }
            parts.push(Part::Variable(name.to_owned()));
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self {
            source: source.to_owned(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The distinct variables the template uses, sorted.
    pub fn variables(&self) -> BTreeSet<&str> {
        self.parts
            .iter()
            .filter_map(|part| match part {
                Part::Variable(name) => Some(name.as_str()),
                Part::Text(_) => None,
            })
            .collect()
    }

    /// Renders with `data`. Every missing variable is reported, not just the first, so a
    /// client can fix its request in one go.
    pub fn render(&self, data: &Map<String, Value>) -> Result<String, RenderError> {
        let mut missing = BTreeSet::new();
        let mut not_scalar = BTreeSet::new();
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Variable(name) => match lookup(data, name) {
                    None | Some(Value::Null) => {
                        missing.insert(name.clone());
                    }
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Number(n)) => out.push_str(&n.to_string()),
                    Some(Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
                    Some(Value::Array(_) | Value::Object(_)) => {
                        not_scalar.insert(name.clone());
                    }
                },
            }
        }
        if !missing.is_empty() {
            return Err(RenderError::Missing(missing.into_iter().collect()));
        }
        if !not_scalar.is_empty() {
            return Err(RenderError::NotScalar(not_scalar.into_iter().collect()));
        }
        Ok(out)
    }
}

fn is_valid_name(name: &str) -> bool {
    name.split('.').all(|segment| {
        let mut chars = segment.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn lookup<'a>(data: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let mut segments = name.split('.');
    let first = data.get(segments.next()?)?;
    segments.try_fold(first, |value, segment| value.as_object()?.get(segment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn data(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn renders_variables_with_whitespace_and_nesting() {
        let template =
            Template::parse("Hi {{ first_name }}, your {{item}} waits: code {{promo.code}}")
                .unwrap();
        let rendered = template.render(&data(json!({
            "first_name": "Asha", "item": "XYZ bag", "promo": {"code": "COD25"}, "unused": 1
        })));
        assert_eq!(
            rendered.as_deref(),
            Ok("Hi Asha, your XYZ bag waits: code COD25")
        );
    }

    #[test]
    fn renders_numbers_and_booleans() {
        let template = Template::parse("{{n}} items, gift: {{gift}}").unwrap();
        assert_eq!(
            template
                .render(&data(json!({"n": 3, "gift": false})))
                .as_deref(),
            Ok("3 items, gift: false")
        );
    }

    #[test]
    fn names_every_missing_variable() {
        let template = Template::parse("{{a}} {{b}} {{a}} {{c.d}}").unwrap();
        assert_eq!(
            template.render(&data(json!({"b": "x", "c": {}}))),
            Err(RenderError::Missing(vec!["a".into(), "c.d".into()]))
        );
        assert_eq!(
            template.render(&data(json!({"a": null, "b": 1, "c": {"d": 2}}))),
            Err(RenderError::Missing(vec!["a".into()]))
        );
    }

    #[test]
    fn refuses_objects_as_values() {
        let template = Template::parse("{{a}}").unwrap();
        assert_eq!(
            template.render(&data(json!({"a": {"b": 1}}))),
            Err(RenderError::NotScalar(vec!["a".into()]))
        );
    }

    #[test]
    fn reports_syntax_errors_with_positions() {
        assert_eq!(Template::parse("   "), Err(TemplateError::Empty));
        assert_eq!(
            Template::parse("Hé {{name"),
            Err(TemplateError::Unclosed { position: 3 })
        );
        assert_eq!(
            Template::parse("x {{ }}"),
            Err(TemplateError::EmptyName { position: 2 })
        );
        assert!(matches!(
            Template::parse("{{first name}}"),
            Err(TemplateError::BadName { .. })
        ));
        assert!(matches!(
            Template::parse("{{1st}}"),
            Err(TemplateError::BadName { .. })
        ));
    }

    #[test]
    fn lists_variables() {
        let template = Template::parse("{{b}} {{a}} {{b}}").unwrap();
        assert_eq!(
            template.variables().into_iter().collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }

    proptest! {
        // Text without braces renders to itself, whatever the data.
        #[test]
        fn plain_text_renders_unchanged(text in "[^{}]{1,200}") {
            prop_assume!(!text.trim().is_empty());
            let template = Template::parse(&text).unwrap();
            prop_assert_eq!(template.render(&Map::new()).unwrap(), text);
        }

        // Rendering substitutes exactly: the output is the template with each
        // placeholder replaced by its value.
        #[test]
        fn rendering_substitutes_values(
            pieces in proptest::collection::vec(("[^{}]{0,20}", "[a-z_][a-z0-9_]{0,8}", "[^{}]{0,20}"), 1..6)
        ) {
            let mut source = String::new();
            let mut expected = String::new();
            let mut values = Map::new();
            for (before, name, value) in &pieces {
                source.push_str(before);
                source.push_str(&format!("{{{{{name}}}}}"));
                expected.push_str(before);
                let value = values
                    .entry(name.clone())
                    .or_insert_with(|| Value::String(value.clone()))
                    .as_str()
                    .unwrap()
                    .to_owned();
                expected.push_str(&value);
            }
            let template = Template::parse(&source).unwrap();
            prop_assert_eq!(template.render(&values).unwrap(), expected);
        }

        // Leaving out any one used variable is an error that names it.
        #[test]
        fn a_missing_variable_is_named(names in proptest::collection::btree_set("[a-z][a-z0-9]{0,6}", 1..5), drop_index in 0usize..5) {
            let names: Vec<_> = names.into_iter().collect();
            let dropped = &names[drop_index % names.len()];
            let source: String = names.iter().map(|n| format!("{{{{{n}}}}} ")).collect();
            let values: Map<String, Value> = names
                .iter()
                .filter(|n| *n != dropped)
                .map(|n| (n.clone(), Value::String("v".into())))
                .collect();
            let template = Template::parse(&source).unwrap();
            prop_assert_eq!(template.render(&values), Err(RenderError::Missing(vec![dropped.clone()])));
        }
    }
}
