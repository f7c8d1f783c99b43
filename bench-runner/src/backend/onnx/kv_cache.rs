//! The KV cache as ONNX Runtime values: each step's `present.N.*` outputs are kept as they are
//! (no copy) and fed back as the next step's `past_key_values.N.*` inputs, by reference.
//!
//! An empty cache is a tensor with a sequence length of 0, which is what optimum and
//! onnxruntime-genai exports expect on the first pass.

use ort::memory::Allocator;
use ort::session::SessionOutputs;
use ort::value::{DynTensor, DynValue};

use super::layout::DecoderLayout;

pub struct KvCache {
    /// key 0, value 0, key 1, value 1, …
    values: Vec<DynValue>,
    /// Tokens the cache holds.
    len: usize,
}

impl KvCache {
    pub fn empty(layout: &DecoderLayout, allocator: &Allocator) -> Result<Self, String> {
        let shape = [1i64, layout.kv_heads as i64, 0, layout.head_dim as i64];
        let values = (0..layout.layers * 2)
            .map(|_| {
                DynTensor::new(allocator, layout.cache_type, shape)
                    .map(DynTensor::into_dyn)
                    .map_err(|e| format!("cannot make an empty KV cache: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(KvCache { values, len: 0 })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Takes the `present.N.*` outputs of a step that added `added` tokens.
    pub fn advance(
        &self,
        outputs: &mut SessionOutputs<'_>,
        layout: &DecoderLayout,
        added: usize,
    ) -> Result<KvCache, String> {
        let mut values = Vec::with_capacity(layout.layers * 2);
        for name in &layout.present_names {
            values.push(
                outputs
                    .remove(name)
                    .ok_or_else(|| format!("the model did not return {name}"))?,
            );
        }
        Ok(KvCache {
            values,
            len: self.len + added,
        })
    }

    /// The values in the order of [`DecoderLayout::past_names`].
    pub fn values(&self) -> &[DynValue] {
        &self.values
    }
}
