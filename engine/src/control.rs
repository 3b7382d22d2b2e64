//! Application commands run on the control thread: telemetry commands an application registers
//! ([`crate::Engine::telemetry_command`]) and the SIGHUP hook ([`crate::Engine::on_sighup`]).
//!
//! Telemetry clients are served on their own threads; an application command is sent from there
//! to the control thread over a channel and its reply sent back, so every handler runs on one
//! thread, one at a time, and may own single-writer state (an LPM table's writer side, say)
//! without a lock. The control thread looks at the channel between its statistics ticks (every
//! 10 ms at most). A command that arrives while the engine stops is answered with an error.

use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::time::Duration;

use serde_json::Value;

/// A telemetry command handler: gets the text after the first `,` of the query (empty when
/// there is none) and returns the reply's JSON body, or an error message.
pub type CommandHandler = Box<dyn FnMut(&str) -> Result<Value, String> + Send>;

/// The SIGHUP hook.
pub type HupHandler = Box<dyn FnMut() + Send>;

/// How long a telemetry client waits for the control thread's reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// One request to the control thread.
pub(crate) enum Request {
    /// Run a registered command.
    Command {
        /// Index of the handler.
        index: usize,
        /// Its arguments.
        args: String,
        /// Where the reply goes.
        reply: SyncSender<Result<Value, String>>,
    },
    /// SIGHUP arrived.
    Hup,
}

/// The handlers, owned by the control thread while the engine runs.
#[derive(Default)]
pub(crate) struct Commands {
    pub(crate) handlers: Vec<(String, CommandHandler)>,
    pub(crate) on_hup: Option<HupHandler>,
}

impl Commands {
    /// The names of the registered commands.
    pub(crate) fn names(&self) -> Vec<String> {
        self.handlers.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Waits up to `timeout` for requests and serves what arrives.
    pub(crate) fn serve(&mut self, rx: &Receiver<Request>, timeout: Duration) {
        match rx.recv_timeout(timeout) {
            Ok(r) => self.handle(r),
            Err(RecvTimeoutError::Timeout) => return,
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(timeout);
                return;
            }
        }
        while let Ok(r) = rx.try_recv() {
            self.handle(r);
        }
    }

    fn handle(&mut self, r: Request) {
        match r {
            Request::Command { index, args, reply } => {
                let result = match self.handlers.get_mut(index) {
                    Some((_, h)) => h(&args),
                    None => Err(format!("no command {index}")),
                };
                // The client may have given up waiting; nothing to do then.
                let _ = reply.try_send(result);
            }
            Request::Hup => match self.on_hup.as_mut() {
                Some(h) => h(),
                None => log::info!("SIGHUP ignored: no handler registered"),
            },
        }
    }
}

/// The telemetry side: names the commands and sends them to the control thread.
pub(crate) struct CommandClient {
    names: Vec<String>,
    tx: Mutex<Sender<Request>>,
}

impl CommandClient {
    pub(crate) fn new(names: Vec<String>, tx: Sender<Request>) -> Self {
        CommandClient {
            names,
            tx: Mutex::new(tx),
        }
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Runs command `name` on the control thread; `None` if no such command is registered.
    pub(crate) fn call(&self, name: &str, args: &str) -> Option<Result<Value, String>> {
        let index = self.names.iter().position(|n| n == name)?;
        let (reply, wait) = mpsc::sync_channel(1);
        let sent = self
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Request::Command {
                index,
                args: args.to_string(),
                reply,
            });
        if sent.is_err() {
            return Some(Err("the engine is stopping".into()));
        }
        Some(match wait.recv_timeout(REPLY_TIMEOUT) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "no reply from the control thread within {}s",
                REPLY_TIMEOUT.as_secs()
            )),
            Err(RecvTimeoutError::Disconnected) => Err("the engine is stopping".into()),
        })
    }
}

/// Checks a command name: starts with `/`, no `,` or whitespace, not a built-in query.
pub(crate) fn check_name(name: &str, taken: &[String]) -> Result<(), String> {
    if !name.starts_with('/') || name.len() < 2 {
        return Err("must start with '/' and name something".into());
    }
    if name.contains(',') || name.chars().any(char::is_whitespace) {
        return Err("must not contain ',' or whitespace".into());
    }
    if crate::telemetry::QUERIES.contains(&name) || name.starts_with("/ports/") {
        return Err("is a built-in query".into());
    }
    if taken.iter().any(|t| t == name) {
        return Err("is already registered".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_run_on_the_serving_thread_in_order() {
        let (tx, rx) = mpsc::channel();
        let mut total = 0i64;
        let mut cmds = Commands::default();
        cmds.handlers.push((
            "/add".into(),
            Box::new(move |a: &str| {
                let n: i64 = a.trim().parse().map_err(|_| format!("bad number '{a}'"))?;
                total += n;
                Ok(json!(total))
            }),
        ));
        let client = std::sync::Arc::new(CommandClient::new(cmds.names(), tx.clone()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let server = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    cmds.serve(&rx, Duration::from_millis(5));
                }
            })
        };
        assert_eq!(client.call("/add", "2"), Some(Ok(json!(2))));
        assert_eq!(client.call("/add", "40"), Some(Ok(json!(42))));
        assert_eq!(
            client.call("/add", "x"),
            Some(Err("bad number 'x'".to_string()))
        );
        assert_eq!(client.call("/nope", ""), None);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        server.join().unwrap();
        drop(tx);
        // The server is gone: callers get an error, not a hang.
        assert!(client.call("/add", "1").unwrap().is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("/app/x", &[]).is_ok());
        for bad in ["app", "/", "/a,b", "/a b", "/ports", "/ports/0/x", "/info"] {
            assert!(check_name(bad, &[]).is_err(), "{bad}");
        }
        assert!(check_name("/a", &["/a".into()]).is_err());
    }
}
