//! What a needle-in-a-haystack prompt hides: the kind of value, how many needles and how
//! they relate to the question. The context scenario parses them; the haystack builder uses them.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedleKind {
    Number,
    Uuid,
    Word,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedleVariant {
    /// One needle; the question asks for it.
    Single,
    /// One needle for the asked key plus distractor needles for other keys.
    MultiKey,
    /// Several needles with the same key; the answer must hold all their values.
    MultiValue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Needles {
    pub kind: NeedleKind,
    pub variant: NeedleVariant,
    pub count: u32,
}

impl Needles {
    /// `number/single`, `uuid/multi_key`, …: the `needle` column of samples.csv.
    pub fn label(&self) -> String {
        let k = match self.kind {
            NeedleKind::Number => "number",
            NeedleKind::Uuid => "uuid",
            NeedleKind::Word => "word",
        };
        let v = match self.variant {
            NeedleVariant::Single => "single",
            NeedleVariant::MultiKey => "multi_key",
            NeedleVariant::MultiValue => "multi_value",
        };
        format!("{k}/{v}")
    }
}
