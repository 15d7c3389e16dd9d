//! Schema helpers for the CRD: embedded Kubernetes types without their documentation, so the
//! CRD stays small enough for `kubectl apply` (client-side apply keeps a copy of the whole
//! object in a 256 KiB annotation) while the API server still validates every field.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

/// The full schema of an embedded Kubernetes type `T` (a JobTemplateSpec, a Volume, a list of
/// tolerations, ...), minus the descriptions of its fields.
pub(crate) fn stripped<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = T::json_schema(generator);
    if let Some(object) = schema.as_object_mut() {
        let mut value = Value::Object(std::mem::take(object));
        strip_descriptions(&mut value);
        if let Value::Object(stripped) = value {
            *object = stripped;
        }
    }
    schema
}

/// Removes every `description` of a schema and its subschemas (but never a property that
/// happens to be called `description`).
fn strip_descriptions(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            map.remove("description");
            for (key, value) in map.iter_mut() {
                if key == "properties" {
                    if let Value::Object(properties) = value {
                        properties.values_mut().for_each(strip_descriptions);
                    }
                } else {
                    strip_descriptions(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_descriptions),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_descriptions_but_keeps_a_property_named_description() {
        let mut schema = serde_json::json!({
            "description": "top",
            "properties": {
                "description": {"type": "string", "description": "a field"},
                "spec": {"type": "object", "description": "nested", "items": [{"description": "x"}]}
            }
        });
        strip_descriptions(&mut schema);
        assert_eq!(
            schema,
            serde_json::json!({
                "properties": {
                    "description": {"type": "string"},
                    "spec": {"type": "object", "items": [{}]}
                }
            })
        );
    }
}
