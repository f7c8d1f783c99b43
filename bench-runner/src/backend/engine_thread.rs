//! The thread an in-process engine lives on, and the handle the async side talks to it with.
//!
//! llama.cpp contexts and ONNX Runtime sessions are driven from one thread, and their calls
//! block for as long as a prompt takes; so each in-process backend owns one engine thread, and
//! its async methods only send a [`Command`] and await the answer. The runtime never blocks.
//!
//! An engine with one slot answers each request whole, in the order they were sent. An engine
//! that serves several sequences at once (llama.cpp, [`Engine::start`]) keeps the requests it
//! has started and advances them one [`Engine::step`] at a time; between two steps the thread
//! takes every command that has arrived, so a new request joins at the next step (continuous
//! batching), and a command that needs the engine alone (a llama-bench test, a new number of
//! streams) waits until the sequences in flight have finished.

use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use super::bench::{BenchSample, BenchTest};
use super::{ErrorCategory, Prompt, Request, RequestError, Response};

/// What every in-process engine answers; `X` carries an engine's own extra commands.
pub(crate) enum Command<X> {
    CountPrompt {
        prompt: Prompt,
        reply: oneshot::Sender<Result<u32, RequestError>>,
    },
    CountText {
        text: String,
        reply: oneshot::Sender<Option<u32>>,
    },
    Generate {
        req: Box<Request>,
        sent_at: Instant,
        reply: oneshot::Sender<Response>,
    },
    Bench {
        test: BenchTest,
        reply: oneshot::Sender<Result<Vec<BenchSample>, String>>,
    },
    /// Get ready for `streams` requests in flight at once; answers the streams the engine
    /// serves at once from now on (`None`: fixed, as its probe said).
    Reserve {
        streams: u32,
        reply: oneshot::Sender<Option<u32>>,
    },
    Extra(X),
}

/// An engine as its thread sees it.
pub(crate) trait Engine {
    type Extra;
    /// Tokens the model processes for `prompt` (chat template applied where it is a chat).
    fn count_prompt(&mut self, prompt: &Prompt) -> Result<u32, RequestError>;
    /// Tokens of plain text, without special tokens; `None` where it cannot be tokenized.
    fn count_text(&mut self, text: &str) -> Option<u32>;
    /// One request, streamed chunks stamped on arrival; failures are a failed response.
    fn answer(&mut self, req: &Request, sent_at: Instant) -> Response;
    /// One llama-bench test.
    fn run_bench(&mut self, test: BenchTest) -> Result<Vec<BenchSample>, String>;
    fn extra(&mut self, cmd: Self::Extra);

    /// Starts a request. One-slot engines answer it whole here; an engine that serves several
    /// sequences keeps it and answers through `reply` from a later [`Engine::step`].
    fn start(&mut self, req: Box<Request>, sent_at: Instant, reply: oneshot::Sender<Response>) {
        let _ = reply.send(self.answer(&req, sent_at));
    }
    /// Whether requests are in flight (then the thread calls `step` between commands).
    fn busy(&self) -> bool {
        false
    }
    /// Advances the requests in flight by one decode step.
    fn step(&mut self) {}
    /// See [`Command::Reserve`]; called only when no request is in flight.
    fn reserve(&mut self, _streams: u32) -> Option<u32> {
        None
    }
}

/// Serves commands until every sender is gone (the handle dropped). While requests are in
/// flight, every command that has arrived is taken before the next step.
pub(crate) fn serve<E: Engine>(mut engine: E, rx: Receiver<Command<E::Extra>>) {
    loop {
        let cmd = if engine.busy() {
            match rx.try_recv() {
                Ok(cmd) => cmd,
                Err(TryRecvError::Empty) => {
                    engine.step();
                    continue;
                }
                // The handle is gone: nobody waits for the answers in flight.
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(cmd) => cmd,
                Err(_) => return,
            }
        };
        match cmd {
            Command::CountPrompt { prompt, reply } => {
                let _ = reply.send(engine.count_prompt(&prompt));
            }
            Command::CountText { text, reply } => {
                let _ = reply.send(engine.count_text(&text));
            }
            Command::Generate {
                req,
                sent_at,
                reply,
            } => engine.start(req, sent_at, reply),
            Command::Bench { test, reply } => {
                finish_in_flight(&mut engine);
                let _ = reply.send(engine.run_bench(test));
            }
            Command::Reserve { streams, reply } => {
                finish_in_flight(&mut engine);
                let _ = reply.send(engine.reserve(streams));
            }
            // An engine's own commands (the drift scorer's) use the model alone, as bench does.
            Command::Extra(x) => {
                finish_in_flight(&mut engine);
                engine.extra(x)
            }
        }
    }
}

/// Steps until no request is in flight (before a command that needs the engine alone).
fn finish_in_flight<E: Engine>(engine: &mut E) {
    while engine.busy() {
        engine.step();
    }
}

/// The async side's end: sends commands, awaits answers, and on drop closes the channel and
/// waits for the thread, so the model is freed before the next backend loads.
pub(crate) struct EngineHandle<X> {
    tx: Sender<Command<X>>,
    thread: Option<JoinHandle<()>>,
    /// The engine's name in "the … engine thread is gone".
    engine: &'static str,
}

impl<X> EngineHandle<X> {
    pub fn new(tx: Sender<Command<X>>, thread: JoinHandle<()>, engine: &'static str) -> Self {
        EngineHandle {
            tx,
            thread: Some(thread),
            engine,
        }
    }

    /// Sends a command and awaits its answer; `None` once the engine thread is gone.
    pub async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command<X>) -> Option<T> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).ok()?;
        rx.await.ok()
    }

    pub fn dead(&self) -> RequestError {
        RequestError::new(
            ErrorCategory::Engine,
            format!("the {} engine thread is gone", self.engine),
        )
    }

    pub async fn count_prompt_tokens(&self, prompt: &Prompt) -> Result<Option<u32>, RequestError> {
        let prompt = prompt.clone();
        match self
            .ask(|reply| Command::CountPrompt { prompt, reply })
            .await
        {
            Some(r) => r.map(Some),
            None => Err(self.dead()),
        }
    }

    pub async fn count_text_tokens(&self, text: &str) -> Option<u32> {
        let text = text.to_string();
        self.ask(|reply| Command::CountText { text, reply })
            .await
            .flatten()
    }

    /// `sent_at` is stamped here, when the request is handed to the engine: a request that
    /// waits behind another shows the wait in its TTFT.
    pub async fn generate(&self, req: &Request) -> Response {
        let sent_at = Instant::now();
        let req = Box::new(req.clone());
        match self
            .ask(|reply| Command::Generate {
                req,
                sent_at,
                reply,
            })
            .await
        {
            Some(r) => r,
            None => Response::failed(sent_at, self.dead()),
        }
    }

    /// See [`Command::Reserve`]; `None` also when the engine thread is gone.
    pub async fn reserve(&self, streams: u32) -> Option<u32> {
        self.ask(|reply| Command::Reserve { streams, reply })
            .await
            .flatten()
    }

    /// Runs one llama-bench test in the engine (see [`BenchTest`]).
    pub async fn bench(&self, test: BenchTest) -> Result<Vec<BenchSample>, RequestError> {
        match self.ask(|reply| Command::Bench { test, reply }).await {
            Some(r) => r.map_err(|e| RequestError::new(ErrorCategory::Engine, e)),
            None => Err(self.dead()),
        }
    }
}

impl<X> Drop for EngineHandle<X> {
    fn drop(&mut self) {
        // Closing the channel ends the engine loop.
        let (tx, _) = std::sync::mpsc::channel();
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
