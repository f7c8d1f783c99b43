//! Making the ONNX Runtime session: threads, graph optimisation, execution provider.
//!
//! CPU is always there. Other providers are compiled in only with the matching cargo feature
//! (`onnx-cuda`, `onnx-coreml`, …: `ort` needs their option types) and work only where the
//! loaded library was built with them; registration is asked to fail loudly, so a request for
//! CUDA never silently measures the CPU.

use std::path::Path;

use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider, ExecutionProviderDispatch};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use super::config::{GraphOptimization, OnnxConfig};

/// ONNX Runtime's name of a provider (as `get_available_providers` lists it).
pub fn provider_name(short: &str) -> String {
    match short {
        "cpu" => "CPUExecutionProvider",
        "cuda" => "CUDAExecutionProvider",
        "tensorrt" => "TensorrtExecutionProvider",
        "coreml" => "CoreMLExecutionProvider",
        "directml" => "DmlExecutionProvider",
        "nnapi" => "NnapiExecutionProvider",
        "qnn" => "QNNExecutionProvider",
        "xnnpack" => "XnnpackExecutionProvider",
        "openvino" => "OpenVINOExecutionProvider",
        other => other,
    }
    .to_string()
}

/// The providers compiled into this edgebench that the loaded library also has.
pub fn available_providers() -> Vec<String> {
    let mut v = Vec::new();
    if ep::CPU::is_available().unwrap_or(false) {
        v.push(provider_name("cpu"));
    }
    macro_rules! check {
        ($feature:literal, $short:literal, $ty:ty) => {
            #[cfg(feature = $feature)]
            if <$ty>::is_available().unwrap_or(false) {
                v.push(provider_name($short));
            }
        };
    }
    check!("onnx-cuda", "cuda", ep::CUDA);
    check!("onnx-tensorrt", "tensorrt", ep::TensorRT);
    check!("onnx-coreml", "coreml", ep::CoreML);
    check!("onnx-directml", "directml", ep::DirectML);
    check!("onnx-nnapi", "nnapi", ep::NNAPI);
    check!("onnx-qnn", "qnn", ep::QNN);
    check!("onnx-xnnpack", "xnnpack", ep::XNNPACK);
    check!("onnx-openvino", "openvino", ep::OpenVINO);
    v
}

// Without any provider feature only `cpu` and the error arm are left.
#[allow(unreachable_code, unused_variables)]
fn dispatch(short: &str) -> Result<Option<ExecutionProviderDispatch>, String> {
    let ep: ExecutionProviderDispatch = match short {
        "cpu" => return Ok(None),
        #[cfg(feature = "onnx-cuda")]
        "cuda" => ep::CUDA::default().build(),
        #[cfg(feature = "onnx-tensorrt")]
        "tensorrt" => ep::TensorRT::default().build(),
        #[cfg(feature = "onnx-coreml")]
        "coreml" => ep::CoreML::default().build(),
        #[cfg(feature = "onnx-directml")]
        "directml" => ep::DirectML::default().build(),
        #[cfg(feature = "onnx-nnapi")]
        "nnapi" => ep::NNAPI::default().build(),
        #[cfg(feature = "onnx-qnn")]
        "qnn" => ep::QNN::default().build(),
        #[cfg(feature = "onnx-xnnpack")]
        "xnnpack" => ep::XNNPACK::default().build(),
        #[cfg(feature = "onnx-openvino")]
        "openvino" => ep::OpenVINO::default().build(),
        other => {
            return Err(format!(
                "execution provider `{other}` is not compiled into this edgebench: build it with `--features onnx-{other}` \
                 and use a libonnxruntime that has {} (compiled in: {})",
                provider_name(other),
                available_providers().join(", ")
            ));
        }
    };
    Ok(Some(ep.error_on_failure()))
}

/// A session on `model` with the config's settings; `intra` is resolved by the caller.
pub fn open(
    env: &Environment,
    model: &Path,
    cfg: &OnnxConfig,
    intra: u32,
) -> Result<Session, String> {
    let level = match cfg.graph_optimization {
        GraphOptimization::Disable => GraphOptimizationLevel::Disable,
        GraphOptimization::Basic => GraphOptimizationLevel::Level1,
        GraphOptimization::Extended => GraphOptimizationLevel::Level2,
        GraphOptimization::All => GraphOptimizationLevel::All,
    };
    let provider = dispatch(&cfg.execution_provider)?;
    let opt = |e: ort::Error<ort::session::builder::SessionBuilder>| {
        format!("session options: {}", ort::Error::<()>::from(e))
    };
    let mut builder = Session::builder(env)
        .map_err(|e| format!("cannot make a session builder: {e}"))?
        .with_intra_threads(intra as usize)
        .map_err(opt)?
        .with_inter_threads(cfg.inter_op_threads.unwrap_or(1) as usize)
        .map_err(opt)?
        .with_optimization_level(level)
        .map_err(opt)?;
    if let Some(p) = provider {
        builder = builder.with_execution_providers([p]).map_err(|e| {
            format!(
                "execution provider {}: {}",
                provider_name(&cfg.execution_provider),
                ort::Error::<()>::from(e)
            )
        })?;
    }
    builder
        .commit_from_file(model)
        .map_err(|e| format!("cannot load {} into ONNX Runtime: {e}", model.display()))
}
