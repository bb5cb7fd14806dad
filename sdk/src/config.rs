//! issue 17: a module's section of the host's configuration.
//!
//! A module that reads configuration implements [`Configured`] and is
//! exported with `export_module!(M, configured)`. Its declaration then
//! carries the schema fingerprint of [`Configured::Section`], which the host
//! checks against the type it delivers; the host calls
//! [`Configured::on_config`] with each new section before it applies a
//! configuration (a refusal vetoes the configuration for everyone), and the
//! applied section is what [`Context::config`] returns on the actor's turn.
//!
//! The applied section lives in this library (each loaded version has its
//! own): the host hands it over once per change, and reading it is a
//! read-lock and an `Arc` clone, no call into the host.

use crate::{Context, Module, ModuleError};
use std::any::{Any, TypeId};
use std::sync::{Arc, RwLock};

/// A module that receives a section of the host's configuration.
///
/// ```
/// use relive_sdk::prelude::*;
/// use relive_sdk::Configured;
///
/// #[data]
/// pub struct Pricing { quotes: u64 }
///
/// #[data]
/// pub struct PricingSection { pub margin_percent: u32 }
///
/// impl Module for Pricing {
///     const NAME: &'static str = "pricing";
///     type Args = ();
///     type Msg = u64;
///     type Reply = u64;
///     fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
///         Ok(Pricing { quotes: 0 })
///     }
///     fn handle(&mut self, cost: u64, ctx: &mut Context<'_>) -> u64 {
///         let margin = ctx.config::<PricingSection>().map_or(0, |s| s.margin_percent);
///         cost + cost * u64::from(margin) / 100
///     }
/// }
///
/// impl Configured for Pricing {
///     type Section = PricingSection;
///     fn on_config(section: &PricingSection) -> Result<(), ModuleError> {
///         if section.margin_percent > 50 {
///             return Err(ModuleError::new("a margin over 50% is a typo"));
///         }
///         Ok(())
///     }
/// }
///
/// // In the cdylib: `relive_sdk::export_module!(Pricing, configured);`
/// let decl = relive_sdk::declaration!(Pricing, configured);
/// assert_ne!(decl.flags & relive_sdk::abi::flags::HAS_CONFIG, 0);
/// ```
pub trait Configured: Module {
    /// The section's type: the host delivers a value of exactly this schema
    /// (its fingerprint is in the declaration and checked).
    type Section: serde::Serialize
        + serde::de::DeserializeOwned
        + postcard_schema::Schema
        + Send
        + Sync
        + 'static;

    /// Whether this version accepts `section` (the host's new
    /// configuration, or the one in force when this version is loaded).
    /// Runs on a host thread of its own with a bound, for every resident
    /// version of the module, before anything is applied: an error vetoes
    /// the configuration for the whole host (or, at load, refuses the
    /// load). The default accepts.
    ///
    /// # Errors
    /// The reason for the veto, as the host reports it.
    fn on_config(section: &Self::Section) -> Result<(), ModuleError> {
        let _ = section;
        Ok(())
    }
}

/// The sections applied in this library (one library per loaded version;
/// a host that links modules statically shares one SDK, so the slot is
/// keyed by the section's type: modules with distinct section types keep
/// theirs apart).
static APPLIED: RwLock<Vec<(TypeId, Arc<dyn Any + Send + Sync>)>> = RwLock::new(Vec::new());

/// Make `section` the one [`Context::config`] returns for its type.
pub(crate) fn apply<S: Send + Sync + 'static>(section: S) {
    let mut slot = APPLIED.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let section: Arc<dyn Any + Send + Sync> = Arc::new(section);
    match slot.iter_mut().find(|(t, _)| *t == TypeId::of::<S>()) {
        Some((_, s)) => *s = section,
        None => slot.push((TypeId::of::<S>(), section)),
    }
}

impl Context<'_> {
    /// This module's section of the host's configuration, as last applied
    /// (issue 17; see [`Configured`]). `None` before the host delivered
    /// one, when the host delivers none to this module, or when `S` is not
    /// the module's `Configured::Section`.
    pub fn config<S: Send + Sync + 'static>(&self) -> Option<Arc<S>> {
        let slot = APPLIED.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (_, s) = slot.iter().find(|(t, _)| *t == TypeId::of::<S>())?;
        Arc::clone(s).downcast::<S>().ok()
    }
}
