//! What a backend kind's config parser is given, and what it implements: [`KindConfig`]
//! (the kind's own keys as a strict serde struct, and their conversion) and [`Entry`] (where
//! the `[backends.NAME]` entry is, to locate mistakes and resolve paths). `config.rs` reads
//! the common keys and hands each kind the rest through [`parse_own`].

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::DeValue;

use crate::error::{Error, Result};
use crate::source;

/// What a kind's own part of a `[backends.NAME]` entry becomes (its `BackendKind` variant).
pub(crate) trait KindConfig: Sized {
    /// The kind's own keys as one strict serde struct (`deny_unknown_fields`, [`Spanned`]
    /// where a check points at a value). Its fields are the keys the kind takes: a key of
    /// another kind is refused by naming the kinds whose `Raw` has it.
    type Raw: DeserializeOwned;

    /// Checks and converts the raw keys; `entry` locates mistakes and resolves paths.
    fn from_raw(raw: Self::Raw, entry: &Entry<'_>) -> Result<Self>;

    /// Mistakes in what the entry names outside the config file (see
    /// `BackendConfig::check_inputs`); none by default.
    fn check_inputs(&self, _backend: &str) -> Result<()> {
        Ok(())
    }
}

/// One `[backends.NAME]` entry as a kind's parser sees it: where it is, so that mistakes are
/// located and relative paths resolved.
pub(crate) struct Entry<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    /// The config file's folder: relative paths are relative to it.
    pub base_dir: &'a Path,
    pub name: &'a str,
    /// The whole entry: where a missing key is reported.
    pub span: Range<usize>,
}

impl Entry<'_> {
    /// An input error at `span` of the config file.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> Error {
        source::error_at(self.path, self.text, Some(span), message)
    }

    /// A file path, relative to the config file's folder unless absolute.
    pub fn path_of(&self, p: &str) -> PathBuf {
        let pb = PathBuf::from(p);
        if pb.is_absolute() {
            pb
        } else {
            self.base_dir.join(pb)
        }
    }

    /// A command: a bare name ("llama-server") is looked up on PATH, a path is relative to
    /// the config.
    pub fn command_of(&self, p: &str) -> PathBuf {
        if p.contains('/') {
            self.path_of(p)
        } else {
            PathBuf::from(p)
        }
    }

    /// A positive, finite number of seconds, or `default`.
    pub fn seconds(&self, v: &Option<Spanned<f64>>, key: &str, default: f64) -> Result<f64> {
        match v {
            Some(s) if !(*s.get_ref() > 0.0 && s.get_ref().is_finite()) => Err(self.error(
                s.span(),
                format!("`{key}` must be a positive number of seconds"),
            )),
            Some(s) => Ok(*s.get_ref()),
            None => Ok(default),
        }
    }

    /// An integer setting within `min..=max`.
    pub fn int_in(
        &self,
        v: &Option<Spanned<i64>>,
        key: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<u32>> {
        match v {
            Some(s) if *s.get_ref() < min || *s.get_ref() > max => {
                Err(self.error(s.span(), format!("`{key}` must be from {min} to {max}")))
            }
            Some(s) => Ok(Some(*s.get_ref() as u32)),
            None => Ok(None),
        }
    }
}

/// Phase two for kind `C`: its own keys, deserialised strictly with their spans, then checked.
pub(crate) fn parse_own<C: KindConfig>(entry: &Entry<'_>, own: Spanned<DeValue<'_>>) -> Result<C> {
    let raw = C::Raw::deserialize(toml::de::ValueDeserializer::from(own))
        .map_err(|e| source::toml_error(entry.path, entry.text, &e))?;
    C::from_raw(raw, entry)
}

/// The keys a serde struct takes, as its derive tells `deserialize_struct`; so the keys of
/// each kind are written once, as the fields of its `Raw`.
pub(crate) fn keys_of<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Fields<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Fields<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_from_the_fields_of_a_struct() {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Raw {
            a: Option<u32>,
            #[serde(rename = "b_key")]
            b: Option<Spanned<String>>,
        }
        assert_eq!(keys_of::<Raw>(), ["a", "b_key"]);
        assert!(keys_of::<u32>().is_empty());
    }
}
