//! A supervisor as the host's views show it (`relive status`).

use crate::tree::Tree;
use parking_lot::Mutex;
use relive_runtime::AnyActor;
use relive_runtime::host::views::{ChildView, TreeSource, TreeView};
use std::sync::Weak;

/// Describes a supervisor for the host's views (held weakly: it goes away
/// with the supervisor).
pub(crate) struct View(pub(crate) Weak<Mutex<Tree>>, pub(crate) AnyActor);

impl TreeSource for View {
    fn view(&self) -> Option<TreeView> {
        let tree = self.0.upgrade()?;
        if self.1.is_exited() {
            return None;
        }
        let t = tree.lock();
        Some(TreeView {
            actor: self.1.id(),
            strategy: format!("{:?}", t.flags.strategy),
            children: t
                .children
                .values()
                .map(|s| ChildView {
                    id: s.child.spec.id.clone(),
                    actor: s.actor.as_ref().filter(|a| !a.is_exited()).map(AnyActor::id),
                    kind: format!("{:?}", s.child.spec.kind).to_lowercase(),
                    modules: s.child.spec.modules.clone(),
                    restarts: s.restarts,
                })
                .collect(),
        })
    }
}
