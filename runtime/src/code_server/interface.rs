//! The types callers use with a module, and the one check of them against a
//! version: at load (loader step 6), at every typed spawn, and whenever an
//! untyped actor reference is given types.
//!
//! # Interfaces that grow (issue 15)
//! A module's message and reply types may only grow: a new version may
//! append variants, every older one unchanged at its index (postcard encodes
//! a variant by its index, so an older value reads the same in the newer
//! type). Each type is compared through its variant prefixes
//! ([`relive_codec::variants`]):
//! - a new version must **extend** the running one (the running type is a
//!   prefix of the new one): [`extends`];
//! - a caller's type must be **compatible** with the module's (one is a
//!   prefix of the other): a caller on an older type sends only variants the
//!   module knows; a caller on a newer type is served for the variants both
//!   know, and a message of a variant the version does not have is refused
//!   before the module sees it ([`UnknownVariant`]).
//!
//! A type a declaration lists no variants for (a module built before this)
//! is *fixed*: equality only. Init arguments are always checked by equality.

use super::version::Version;
use relive_codec::postcard_schema::schema::NamedType;
use relive_codec::variants::VariantList;
use relive_codec::{Fingerprint, Schema};
use std::borrow::Cow;
use std::fmt;

/// The types callers use with a module: checked against every new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// Init arguments.
    pub args: Fingerprint,
    /// Messages.
    pub message: Fingerprint,
    /// Replies.
    pub reply: Fingerprint,
    // issue 15: interfaces that grow
    /// The message type's schema, when the caller's type is known (its
    /// variants); `None`: only the fingerprint, checked by equality.
    pub(crate) message_schema: Option<&'static NamedType>,
    /// The reply type's schema, likewise.
    pub(crate) reply_schema: Option<&'static NamedType>,
}

/// Which of a module's types a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The init arguments.
    Args,
    /// The messages.
    Message,
    /// The replies.
    Reply,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Args => "init args",
            Part::Message => "message",
            Part::Reply => "reply",
        })
    }
}

/// A caller's type is not the module's (or the actor's): refused before any
/// byte is sent, so a mismatch is never a mis-decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target}: the {part} type has schema {found}, {target}'s is {expected}{}", note(.variant))]
pub struct TypeMismatch {
    /// The module and version, or the actor, checked against.
    pub target: String,
    /// Which type.
    pub part: Part,
    /// The module's (or actor's) schema.
    pub expected: Fingerprint,
    /// The caller's.
    pub found: Fingerprint,
    // issue 15: interfaces that grow
    /// The first variant in which the two differ, when both list variants.
    #[source]
    pub variant: Option<Box<VariantMismatch>>,
}

fn note(v: &Option<Box<VariantMismatch>>) -> String {
    v.as_ref().map(|v| format!(" ({v})")).unwrap_or_default()
}

/// The first variant in which two versions of a type differ: `index` is
/// where they part (a changed variant, or the end of the shorter one that
/// should have been the prefix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{part} variant {index} is {} in {expected_in} and {} in {found_in}",
    shown(.expected), shown(.found)
)]
pub struct VariantMismatch {
    /// Which type.
    pub part: Part,
    /// The variant index.
    pub index: usize,
    /// Its name on the side that should be the prefix or the equal (the
    /// running version, the module); `None`: it has no variant there.
    pub expected: Option<String>,
    /// Its name on the other side (the new version, the caller).
    pub found: Option<String>,
    /// What the expected side is ("the running version 1.0.0", …).
    pub expected_in: String,
    /// What the found side is.
    pub found_in: String,
}

fn shown(name: &Option<String>) -> String {
    match name {
        Some(n) => format!("`{n}`"),
        None => "absent".to_owned(),
    }
}

/// A message of a variant the version that was to handle it does not have
/// (sent by a caller typed on a newer interface): refused before the module
/// sees a byte of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{module} {version} has no message variant {variant} (it knows {known}); the sender's type \
     is newer than the version the actor runs"
)]
pub struct UnknownVariant {
    /// The module.
    pub module: String,
    /// The version the actor runs.
    pub version: String,
    /// The variant index the message starts with.
    pub variant: u32,
    /// How many message variants that version has.
    pub known: usize,
}

/// The longest message and reply variant lists any version of a module has
/// had: a variant index once given a meaning keeps it, even after a forced
/// rollback to a version without it (actors spawned on the newer version,
/// and module senders, may still use it).
#[derive(Debug, Clone, Default)]
pub(crate) struct Widest {
    message: Option<VariantList>,
    reply: Option<VariantList>,
}

impl Widest {
    /// Take `version`'s lists where they are longer.
    pub(crate) fn widen(&mut self, version: &Version) {
        for (mine, theirs) in [
            (&mut self.message, version.message_variants()),
            (&mut self.reply, version.reply_variants()),
        ] {
            if let Some(l) = theirs
                && mine.as_ref().is_none_or(|m| m.len() < l.len())
            {
                *mine = Some(l.clone());
            }
        }
    }

    /// The widest list of `part` seen, as a check sees it.
    pub(crate) fn shape(&self, part: Part) -> Option<Shape<'_>> {
        let list = match part {
            Part::Args => None,
            Part::Message => self.message.as_ref(),
            Part::Reply => self.reply.as_ref(),
        };
        list.map(|l| Shape::Listed(Cow::Borrowed(l)))
    }

    /// The widest list of `part` seen.
    pub(crate) fn list(&self, part: Part) -> Option<&VariantList> {
        match part {
            Part::Args => None,
            Part::Message => self.message.as_ref(),
            Part::Reply => self.reply.as_ref(),
        }
    }

    /// A type of `part` known only by its fingerprint `whole`, as a check
    /// sees it: the widest list cut there when `whole` is one of its
    /// prefixes (a type some version of the module had, even one newer than
    /// the running version after a forced rollback), else fixed.
    pub(crate) fn resolve(&self, part: Part, whole: Fingerprint) -> Shape<'static> {
        match self.list(part).and_then(|l| l.cut_at(whole)) {
            Some(cut) => Shape::Listed(Cow::Owned(cut)),
            None => Shape::Fixed(whole),
        }
    }
}

impl super::ModuleTable {
    /// The widest variant lists any version of `name` has had (`None`: not
    /// loaded). Here beside [`Widest`] because it reads the table's slots,
    /// which this module, a child of the code server's, may see.
    pub(crate) fn widest(&self, name: &str) -> Option<Widest> {
        self.inner.lock().modules.get(name).map(|s| s.widest.clone())
    }
}

/// One type as a check sees it: a variant list, or only a fingerprint.
#[derive(Debug, Clone)]
pub(crate) enum Shape<'a> {
    /// No variant list: equality only.
    Fixed(Fingerprint),
    /// The variants.
    Listed(Cow<'a, VariantList>),
}

impl Shape<'_> {
    /// The type `part` of `version`.
    pub(crate) fn of_version(version: &Version, part: Part) -> Shape<'_> {
        let s = version.schemas();
        let (whole, list) = match part {
            Part::Args => (s.args, None),
            Part::Message => (s.message, version.message_variants()),
            Part::Reply => (s.reply, version.reply_variants()),
        };
        match list {
            Some(l) => Shape::Listed(Cow::Borrowed(l)),
            None => Shape::Fixed(whole),
        }
    }

    /// A type known by its schema.
    pub(crate) fn of_schema(schema: &NamedType) -> Shape<'static> {
        Shape::Listed(Cow::Owned(VariantList::of_schema(schema)))
    }

    /// The type's own fingerprint.
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        match self {
            Shape::Fixed(f) => *f,
            Shape::Listed(l) => l.fingerprint(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Shape::Fixed(_) => 1,
            Shape::Listed(l) => l.len(),
        }
    }

    fn name(&self, i: usize) -> Option<String> {
        match self {
            Shape::Fixed(_) => None,
            Shape::Listed(l) => l.name(i).map(str::to_owned),
        }
    }

    /// Whether every variant of `self` is in `longer` at the same index. A
    /// fixed type (only its fingerprint known) is a prefix of a listed one
    /// when it is the fingerprint of one of its prefixes (the prefix
    /// fingerprints are exactly those of the type cut there).
    fn is_prefix_of(&self, longer: &Shape<'_>) -> bool {
        match (self, longer) {
            (Shape::Listed(a), Shape::Listed(b)) => a.is_prefix_of(b),
            (Shape::Fixed(f), Shape::Listed(b)) => b.has_prefix(*f),
            _ => self.fingerprint() == longer.fingerprint(),
        }
    }

    /// Where `self` and `other` part.
    fn difference(&self, other: &Shape<'_>) -> usize {
        match (self, other) {
            (Shape::Listed(a), Shape::Listed(b)) => a.first_difference(b).unwrap_or(0),
            _ => 0,
        }
    }
}

/// Check that `new` extends `old` (every variant of `old` unchanged at its
/// index in `new`, which may append more).
///
/// # Errors
/// The first variant that differs, with the names on both sides (`None`
/// when a side lists no variants).
pub(crate) fn extends(
    part: Part,
    old: &Shape<'_>,
    new: &Shape<'_>,
    sides: (&str, &str),
) -> Result<(), Option<Box<VariantMismatch>>> {
    if old.fingerprint() == new.fingerprint() || old.is_prefix_of(new) {
        return Ok(());
    }
    Err(mismatch(part, old, new, sides))
}

/// Check that `a` and `b` are compatible: one is a prefix of the other.
///
/// # Errors
/// The first variant that differs (`None` when a side lists no variants).
pub(crate) fn compatible(
    part: Part,
    a: &Shape<'_>,
    b: &Shape<'_>,
    sides: (&str, &str),
) -> Result<(), Option<Box<VariantMismatch>>> {
    if a.fingerprint() == b.fingerprint() || a.is_prefix_of(b) || b.is_prefix_of(a) {
        return Ok(());
    }
    Err(mismatch(part, a, b, sides))
}

fn mismatch(
    part: Part,
    a: &Shape<'_>,
    b: &Shape<'_>,
    sides: (&str, &str),
) -> Option<Box<VariantMismatch>> {
    if part == Part::Args || matches!(a, Shape::Fixed(_)) || matches!(b, Shape::Fixed(_)) {
        return None;
    }
    let index = a.difference(b);
    Some(Box::new(VariantMismatch {
        part,
        index,
        expected: a.name(index).filter(|_| index < a.len()),
        found: b.name(index).filter(|_| index < b.len()),
        expected_in: sides.0.to_owned(),
        found_in: sides.1.to_owned(),
    }))
}

impl Interface {
    /// The interface of callers that use `Args`, `Msg` and `Reply`.
    pub const fn of<Args, Msg, Reply>() -> Self
    where
        Args: Schema + ?Sized,
        Msg: Schema + ?Sized,
        Reply: Schema + ?Sized,
    {
        Interface {
            args: Fingerprint::of::<Args>(),
            message: Fingerprint::of::<Msg>(),
            reply: Fingerprint::of::<Reply>(),
            message_schema: Some(Msg::SCHEMA),
            reply_schema: Some(Reply::SCHEMA),
        }
    }

    /// The interface a version declares (its fingerprints: a check against
    /// it is by equality; use [`check`](Self::check) against the version
    /// itself to compare variants).
    pub fn of_version(v: &Version) -> Self {
        let s = v.schemas();
        Interface {
            args: s.args,
            message: s.message,
            reply: s.reply,
            message_schema: None,
            reply_schema: None,
        }
    }

    /// The first type in which `found` differs from `self` (messages, then
    /// replies, then init arguments), as `(part, self's, found's)`.
    pub fn first_difference(&self, found: &Interface) -> Option<(Part, Fingerprint, Fingerprint)> {
        [
            (Part::Message, self.message, found.message),
            (Part::Reply, self.reply, found.reply),
            (Part::Args, self.args, found.args),
        ]
        .into_iter()
        .find(|(_, e, f)| e != f)
    }

    /// The caller's type `part` as a check sees it.
    pub(crate) fn shape(&self, part: Part) -> Shape<'static> {
        let (whole, schema) = match part {
            Part::Args => (self.args, None),
            Part::Message => (self.message, self.message_schema),
            Part::Reply => (self.reply, self.reply_schema),
        };
        match schema {
            Some(s) => Shape::of_schema(s),
            None => Shape::Fixed(whole),
        }
    }

    /// Check a caller's interface (`self`) against `version`: the same init
    /// arguments; message and reply types compatible with the version's
    /// (one a prefix of the other).
    ///
    /// # Errors
    /// The first type that differs, with the first differing variant.
    pub fn check(&self, version: &Version) -> Result<(), TypeMismatch> {
        let own = version.schemas();
        if (own.args, own.message, own.reply) == (self.args, self.message, self.reply) {
            return Ok(());
        }
        let target = format!("{} {}", version.name(), version.version());
        for part in [Part::Message, Part::Reply, Part::Args] {
            let (own, theirs) = (Shape::of_version(version, part), self.shape(part));
            if let Err(variant) = compatible(part, &own, &theirs, (&target, "the caller's type")) {
                let (e, f) = (own.fingerprint(), theirs.fingerprint());
                return Err(TypeMismatch::new(version, part, e, f, variant));
            }
        }
        Ok(())
    }

    /// Check the types an actor keeps for life (`args`, `message`, `reply`:
    /// fingerprints only, saved when it started) against `version`, the one
    /// it is to restart on: the same init arguments; message and reply types
    /// compatible with the version's. A saved type newer than `version` (an
    /// actor started on a release a forced rollback left) is known by the
    /// `widest` lists of its module: resolved there, it is compared variant
    /// by variant, so the actor restarts on the older version, which refuses
    /// the variants it lacks typed ([`UnknownVariant`]).
    ///
    /// # Errors
    /// The first type that is not compatible.
    pub(crate) fn check_kept(
        version: &Version,
        widest: Option<&Widest>,
        (args, message, reply): (Fingerprint, Fingerprint, Fingerprint),
    ) -> Result<(), TypeMismatch> {
        let own = version.schemas();
        if (own.args, own.message, own.reply) == (args, message, reply) {
            return Ok(());
        }
        let target = format!("{} {}", version.name(), version.version());
        for (part, whole) in [(Part::Message, message), (Part::Reply, reply), (Part::Args, args)] {
            let mine = Shape::of_version(version, part);
            let theirs = match widest {
                Some(w) if part != Part::Args => w.resolve(part, whole),
                _ => Shape::Fixed(whole),
            };
            if let Err(variant) = compatible(part, &mine, &theirs, (&target, "the actor's type")) {
                return Err(TypeMismatch::new(version, part, mine.fingerprint(), whole, variant));
            }
        }
        Ok(())
    }

    /// Check one of a caller's types, by fingerprint only, against
    /// `version`'s: equality.
    ///
    /// # Errors
    /// The type differs.
    pub fn check_part(
        version: &Version,
        part: Part,
        found: Fingerprint,
    ) -> Result<(), TypeMismatch> {
        let expected = Shape::of_version(version, part).fingerprint();
        if expected == found {
            Ok(())
        } else {
            Err(TypeMismatch::new(version, part, expected, found, None))
        }
    }

    /// Check one of a caller's types, known by its schema, against
    /// `version`'s: compatible (one a prefix of the other); init arguments
    /// equal.
    ///
    /// # Errors
    /// The type is not compatible; the error names the first differing variant.
    pub fn check_type(
        version: &Version,
        part: Part,
        schema: &'static NamedType,
    ) -> Result<(), TypeMismatch> {
        let own = Shape::of_version(version, part);
        let found = relive_codec::variants::prefix_of(schema, usize::MAX);
        if own.fingerprint() == found {
            return Ok(());
        }
        if part == Part::Args {
            return Err(TypeMismatch::new(version, part, own.fingerprint(), found, None));
        }
        let theirs = Shape::of_schema(schema);
        let target = format!("{} {}", version.name(), version.version());
        compatible(part, &own, &theirs, (&target, "the caller's type"))
            .map_err(|v| TypeMismatch::new(version, part, own.fingerprint(), found, v))
    }

    /// `self` with the message and reply types of `other` where they are
    /// longer (both compatible already): the widest types callers use.
    pub(crate) fn widen(mut self, other: &Interface) -> Interface {
        if other.message_schema.is_some()
            && self.shape(Part::Message).len() < other.shape(Part::Message).len()
        {
            (self.message, self.message_schema) = (other.message, other.message_schema);
        }
        if other.reply_schema.is_some()
            && self.shape(Part::Reply).len() < other.shape(Part::Reply).len()
        {
            (self.reply, self.reply_schema) = (other.reply, other.reply_schema);
        }
        self
    }

    /// Check that the caller types of `other` are compatible with `self`'s
    /// (two callers of one module must not give one index two meanings).
    ///
    /// # Errors
    /// The first variant in which they differ.
    pub(crate) fn check_callers(
        &self,
        other: &Interface,
        module: &str,
    ) -> Result<(), TypeMismatch> {
        for part in [Part::Message, Part::Reply] {
            let (mine, theirs) = (self.shape(part), other.shape(part));
            if let Err(variant) =
                compatible(part, &mine, &theirs, ("other callers' type", "this caller's"))
            {
                return Err(TypeMismatch {
                    target: format!("callers of `{module}`"),
                    part,
                    expected: mine.fingerprint(),
                    found: theirs.fingerprint(),
                    variant,
                });
            }
        }
        Ok(())
    }
}

impl TypeMismatch {
    fn new(
        version: &Version,
        part: Part,
        expected: Fingerprint,
        found: Fingerprint,
        variant: Option<Box<VariantMismatch>>,
    ) -> Self {
        TypeMismatch {
            target: format!("{} {}", version.name(), version.version()),
            part,
            expected,
            found,
            variant,
        }
    }
}
