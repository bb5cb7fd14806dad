//! Opening a module library and finding its one symbol.

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW, Symbol};
use std::ffi::c_void;
use std::path::Path;

/// The type of the exported `relive_module_v1` symbol.
type DeclFn = extern "C" fn() -> *const c_void;

/// Why a library could not be opened or its symbol found.
#[derive(Debug)]
pub(crate) enum OpenError {
    DlOpen(libloading::Error),
    /// `dlsym` failed (its error), or found the symbol at address null (`None`).
    MissingSymbol(Option<libloading::Error>),
}

/// An open module library and the declaration pointer its symbol returned.
#[derive(Debug)]
pub(crate) struct OpenLibrary {
    pub(crate) library: Library,
    decl: *const c_void,
}

impl OpenLibrary {
    /// Step 3: read the declaration the symbol returned.
    ///
    /// The function table read here points into `self.library`; the loader
    /// moves both into one `Version`, so the table never outlives the library.
    pub(crate) fn read_declaration(
        &self,
    ) -> Result<(super::decl::Declaration, super::decl::Table), super::decl::DeclError> {
        // SAFETY: the pointer is what the library's `relive_module_v1` returned,
        // whose contract is a declaration valid while the library is open; the
        // library is open for as long as `self` is borrowed.
        unsafe { super::decl::read(self.decl) }
    }
}

/// `dlopen(path, RTLD_NOW | RTLD_LOCAL)`, then call `relive_module_v1`.
///
/// `path` must be the host's private copy (see `code_server::loader`), never
/// a path a build may rewrite: the loader makes that copy before calling this.
pub(crate) fn open(path: &Path) -> Result<OpenLibrary, OpenError> {
    #[allow(clippy::disallowed_methods)] // this is the one sanctioned call site
    // SAFETY: opening a library runs its initialisers, which is the same as
    // calling foreign code. The loader has already checked that the file is
    // an ELF shared object owned by us or root, not writable by others, in no
    // directory others may write, read from the descriptor it checked,
    // hashed and (when configured) signed, and copied it to a private file
    // nobody else can change; RTLD_LOCAL keeps its symbols out of the global
    // namespace, RTLD_NOW fails now rather than at a later lazy bind.
    let library =
        unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map_err(OpenError::DlOpen)?;
    let symbol = relive_sdk::abi::SYMBOL;
    // SAFETY: the symbol name is the relive ABI's, whose documented type is
    // `extern "C" fn() -> *const ModuleDecl`; it is read as an `Option` of that
    // so that a symbol whose address is null is an error, not a null call.
    let get: Symbol<Option<DeclFn>> =
        unsafe { library.get(symbol.as_bytes()) }.map_err(|e| OpenError::MissingSymbol(Some(e)))?;
    let get = (*get).ok_or(OpenError::MissingSymbol(None))?;
    let decl = get();
    Ok(OpenLibrary { library, decl })
}

/// The library at `path` if it is loaded already (`RTLD_NOLOAD`: nothing is
/// loaded, no initialiser runs). Dropping the handle closes it once more,
/// which lets glibc unmap it if nothing else holds it.
pub(crate) fn find_loaded(path: &Path) -> Option<Library> {
    #[allow(clippy::disallowed_methods)] // the second sanctioned call site: it loads nothing
    // SAFETY: with RTLD_NOLOAD, `dlopen` only looks among the libraries that
    // are already loaded; it maps nothing and runs no initialiser.
    let found =
        unsafe { Library::open(Some(path), libloading::os::unix::RTLD_LAZY | libc::RTLD_NOLOAD) };
    found.ok()
}
