//! The code of the `port_user` module, shared by its two versions.

use port_api::{Answer, Ask, Outcome, PortMsg, PortReply, Record, WrongAnswer};
use postcard_schema::Schema;
use relive_sdk::{
    Context, Module, ModuleError, PortError, PortResult, ReplyToken, RequestError, RequestId,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A chain of requests in progress (`PortMsg::Chain`).
#[derive(Debug, Serialize, Deserialize, Schema)]
struct Chain {
    port: String,
    left: u64,
    waiting: u64,
    token: Option<ReplyToken>,
}

/// The state: what it was answered, and who waits for which request.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub struct PortUser {
    records: Vec<Record>,
    /// Calls whose reply waits for a request: (request id, token).
    waiting: Vec<(u64, ReplyToken)>,
    /// Requests whose response is decoded as `WrongAnswer`.
    decode_wrong: Vec<u64>,
    chain: Option<Chain>,
}

fn refused(e: &RequestError) -> PortReply {
    PortReply::Refused(e.to_string())
}

fn outcome(e: PortError) -> Outcome {
    match e {
        PortError::Timeout => Outcome::Timeout,
        PortError::Failed(m) => Outcome::Failed(m),
        PortError::Panicked(m) => Outcome::Panicked(m),
        PortError::Cancelled(m) => Outcome::Cancelled(m),
        PortError::SchemaMismatch { .. } => Outcome::SchemaMismatch,
        other => Outcome::Other(other.to_string()),
    }
}

impl PortUser {
    fn next_in_chain(&mut self, ctx: &mut Context<'_>) {
        let Some(chain) = &mut self.chain else { return };
        if chain.left == 0 {
            let done = self.chain.take().expect("a chain");
            if let Some(token) = done.token {
                let record = Record {
                    id: done.waiting,
                    version: env!("CARGO_PKG_VERSION").into(),
                    outcome: Outcome::Answered(0),
                };
                let _ = ctx.reply(token, &PortReply::Done(record));
            }
            return;
        }
        chain.left -= 1;
        let port = chain.port.clone();
        match ctx.request::<Ask, Answer>(&port, &Ask::answer(chain.left, 0)) {
            Ok(id) => chain.waiting = id.0,
            Err(e) => {
                let done = self.chain.take().expect("a chain");
                if let Some(token) = done.token {
                    let _ = ctx.reply(token, &refused(&e));
                }
            }
        }
    }
}

impl Module for PortUser {
    const NAME: &'static str = "port_user";
    type Args = ();
    type Msg = PortMsg;
    type Reply = PortReply;

    fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
        Ok(PortUser {
            records: Vec::new(),
            waiting: Vec::new(),
            decode_wrong: Vec::new(),
            chain: None,
        })
    }

    fn handle(&mut self, msg: PortMsg, ctx: &mut Context<'_>) -> PortReply {
        match msg {
            PortMsg::Ask { port, ask, timeout_ms } => {
                let sent = match timeout_ms {
                    Some(ms) => ctx.request_with_timeout::<Ask, Answer>(
                        &port,
                        &ask,
                        Duration::from_millis(ms),
                    ),
                    None => ctx.request::<Ask, Answer>(&port, &ask),
                };
                sent.map_or_else(|e| refused(&e), |id| PortReply::Sent(id.0))
            }
            PortMsg::AskWrongType { port } => ctx
                .request::<Ask, WrongAnswer>(&port, &Ask::answer(0, 0))
                .map_or_else(|e| refused(&e), |id| PortReply::Sent(id.0)),
            PortMsg::AskDecodeWrong { port, ask } => {
                match ctx.request::<Ask, Answer>(&port, &ask) {
                    Ok(id) => {
                        self.decode_wrong.push(id.0);
                        PortReply::Sent(id.0)
                    }
                    Err(e) => refused(&e),
                }
            }
            PortMsg::AskAndWait { port, ask } => match ctx.request::<Ask, Answer>(&port, &ask) {
                Ok(id) => match ctx.defer_reply() {
                    Some(token) => {
                        self.waiting.push((id.0, token));
                        PortReply::Deferred
                    }
                    None => PortReply::Sent(id.0),
                },
                Err(e) => refused(&e),
            },
            PortMsg::Chain { port, n } => {
                let token = ctx.defer_reply();
                self.chain = Some(Chain { port, left: n, waiting: 0, token });
                self.next_in_chain(ctx);
                PortReply::Deferred
            }
            PortMsg::Replies => PortReply::Replies(self.records.clone()),
            PortMsg::Count => PortReply::Count(self.records.len() as u64),
        }
    }

    fn on_reply(&mut self, id: RequestId, result: PortResult<'_>, ctx: &mut Context<'_>) {
        if self.chain.as_ref().is_some_and(|c| c.waiting == id.0) {
            self.next_in_chain(ctx);
            return;
        }
        let decoded = if let Some(i) = self.decode_wrong.iter().position(|w| *w == id.0) {
            self.decode_wrong.swap_remove(i);
            result.decode::<WrongAnswer>().map(|_| 0)
        } else {
            result.decode::<Answer>().map(|a| a.0)
        };
        let outcome = decoded.map_or_else(outcome, Outcome::Answered);
        let record = Record { id: id.0, version: env!("CARGO_PKG_VERSION").into(), outcome };
        if let Some(i) = self.waiting.iter().position(|(w, _)| *w == id.0) {
            let (_, token) = self.waiting.swap_remove(i);
            let _ = ctx.reply(token, &PortReply::Done(record.clone()));
        }
        self.records.push(record);
    }
}
