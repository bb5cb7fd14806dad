//! relive-observer: a live web page for a relive host — what an operator
//! keeps open during a rollout.
//!
//! The page shows the supervision trees (child states, restart counts), the
//! modules (current and old versions, build hashes, actors per version),
//! message and crash rates as charts, the upgrade history as a timeline
//! (outcomes, durations), a gradual upgrade's canaries with promote and
//! abort buttons, recent crash reports with their reasons, and any actor's
//! detail (mailbox, messages handled, its state through `sys` get_state).
//! It is pushed live over server-sent events, fed by the host's event
//! stream: the browser never polls.
//!
//! A host enables it with one call; it listens on `127.0.0.1` (a free port
//! unless told) and answers only requests carrying its random token:
//!
//! ```no_run
//! use relive_observer::{Observer, ObserverOptions};
//! let host = relive_runtime::Host::new()?;
//! let observer = Observer::serve(&host.handle(), ObserverOptions::default())?;
//! println!("observer: {}", observer.url()); // http://127.0.0.1:PORT/?token=…
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For a host in another process, `relive observe` serves the same page
//! through the host's admin socket (or, from Rust, serve an
//! [`AdminSocket`]). Both read the host through one trait, [`Source`]:
//! anything that answers the admin protocol's commands.
//!
//! ```
//! use relive_observer::{Observer, ObserverOptions};
//! let host = relive_runtime::Host::builder().workers(1).build()?;
//! let observer = Observer::serve(&host.handle(), ObserverOptions::default())?;
//! assert!(observer.addr().ip().is_loopback());
//! assert!(observer.url().ends_with(observer.token()));
//! // Anything but loopback is refused unless allowed.
//! let open = ObserverOptions::default().addr("0.0.0.0".parse()?);
//! assert!(Observer::serve(&host.handle(), open).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod feed;
mod server;
mod source;
mod token;

pub use server::{Observer, ObserverOptions, ObserverServer, ServeError};
pub use source::{AdminSocket, Source, SourceError};
