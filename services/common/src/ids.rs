//! Record ids of a store: new records count up from the highest seeded id,
//! ids applied from another store's events move the count past them, and a
//! store can be told to number its own records from a base (the monolith
//! does, so its ids never collide with the ones the services publish).

/// The next id to hand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    next: u64,
}

impl Ids {
    /// Counting on after the highest of `existing` (from 1 when empty).
    pub fn after(existing: impl IntoIterator<Item = u64>) -> Self {
        Ids {
            next: existing
                .into_iter()
                .max()
                .map_or(1, |m| m.saturating_add(1)),
        }
    }

    /// New ids from `first` on (never backwards).
    pub fn start_at(&mut self, first: u64) {
        self.next = self.next.max(first);
    }

    /// An id stored from elsewhere is never handed out again.
    pub fn saw(&mut self, id: u64) {
        self.next = self.next.max(id.saturating_add(1));
    }

    /// Hand out the next id.
    pub fn take(&mut self) -> u64 {
        let id = self.next;
        self.next = self.next.saturating_add(1);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_after_seen_and_from_a_base() {
        let mut ids = Ids::after([3, 50, 7]);
        assert_eq!(ids.take(), 51);
        ids.saw(60);
        assert_eq!(ids.take(), 61);
        ids.start_at(1_000_000);
        ids.saw(62);
        assert_eq!(ids.take(), 1_000_000);
        assert_eq!(Ids::after([]).take(), 1);
    }
}
