//! Restart strategies: which children a supervisor stops and restarts.

/// How a child exited, as the restart rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exited with reason `normal`.
    Normal,
    /// Exited with reason `shutdown` (or `{shutdown, _}` in OTP).
    Shutdown,
    /// Any other reason: a crash.
    Abnormal,
}

/// A supervisor's restart strategy (OTP's `strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Only the child that exited is restarted.
    #[default]
    OneForOne,
    /// All children are stopped and restarted.
    OneForAll,
    /// The child that exited and those started after it are stopped and
    /// restarted.
    RestForOne,
    /// Dynamic children of one spec, each restarted on its own (a
    /// `one_for_one` over children added with `start_child`).
    SimpleOneForOne,
}

/// What a supervisor does when the child at index `failed` exited and is to
/// be restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Other children to stop first, in this order (reverse start order).
    pub stop: Vec<usize>,
    /// Children to start again, in this order (start order).
    pub restart: Vec<usize>,
}

impl Strategy {
    /// The plan for `count` children (in start order) when child `failed`
    /// must be restarted.
    ///
    /// # Panics
    /// When `failed >= count`.
    pub fn plan(self, count: usize, failed: usize) -> Plan {
        assert!(failed < count, "child {failed} of {count}");
        let affected: Vec<usize> = match self {
            Strategy::OneForOne | Strategy::SimpleOneForOne => vec![failed],
            Strategy::OneForAll => (0..count).collect(),
            Strategy::RestForOne => (failed..count).collect(),
        };
        let stop = affected.iter().rev().copied().filter(|&i| i != failed).collect();
        Plan { stop, restart: affected }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_strategy_plans_as_otp() {
        assert_eq!(Strategy::OneForOne.plan(5, 2), Plan { stop: vec![], restart: vec![2] });
        assert_eq!(Strategy::SimpleOneForOne.plan(5, 2), Plan { stop: vec![], restart: vec![2] });
        assert_eq!(
            Strategy::OneForAll.plan(5, 2),
            Plan { stop: vec![4, 3, 1, 0], restart: vec![0, 1, 2, 3, 4] }
        );
        assert_eq!(
            Strategy::RestForOne.plan(5, 2),
            Plan { stop: vec![4, 3], restart: vec![2, 3, 4] }
        );
        assert_eq!(Strategy::RestForOne.plan(5, 4), Plan { stop: vec![], restart: vec![4] });
    }
}
