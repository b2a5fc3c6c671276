//! Routing a user to their shard: a fixed ring of [`SLOTS`] logical slots, a user's slot from a stable hash of
//! their id, and a slot map assigning slots to physical databases. The hash never changes (it would move every
//! user at once); the map does, one slot at a time, when a shard is added (docs/sharding.md, "Resharding").

use sha2::{Digest, Sha256};

use crate::domain::UserId;

/// Logical slots on the ring: enough to spread over a few dozen shards evenly, few enough to move one at a time.
pub const SLOTS: usize = 256;

/// One logical slot: the first byte of the SHA-256 of the user id's UTF-8 bytes (documented, so any tool, in any
/// language, finds a user's slot: `hashlib.sha256(user_id.encode()).digest()[0]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(u8);

impl Slot {
    pub fn of(user: &UserId) -> Self {
        Self(Sha256::digest(user.as_str().as_bytes())[0])
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Every slot, in ring order.
    pub fn all() -> impl Iterator<Item = Slot> {
        (0..=u8::MAX).map(Slot)
    }

    pub fn from_index(index: usize) -> Option<Self> {
        u8::try_from(index).ok().map(Slot)
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which shard (an index into the shard list) holds each slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMap {
    shard_of: Vec<usize>,
}

impl SlotMap {
    /// `shards` contiguous ranges of slots, as even as 256 divides: shard i holds slots [i·256/n, (i+1)·256/n).
    pub fn even(shards: usize) -> Self {
        let shards = shards.max(1);
        Self { shard_of: (0..SLOTS).map(|slot| slot * shards / SLOTS).collect() }
    }

    /// A map from explicit assignments (as stored); every slot must be named once.
    pub fn from_assignments(assignments: impl IntoIterator<Item = (Slot, usize)>) -> Result<Self, String> {
        let mut shard_of = vec![None; SLOTS];
        for (slot, shard) in assignments {
            if shard_of[slot.index()].replace(shard).is_some() {
                return Err(format!("slot {slot} is assigned twice"));
            }
        }
        let missing = shard_of.iter().filter(|s| s.is_none()).count();
        if missing > 0 {
            return Err(format!("{missing} slots have no shard"));
        }
        Ok(Self { shard_of: shard_of.into_iter().flatten().collect() })
    }

    pub fn shard_of(&self, slot: Slot) -> usize {
        self.shard_of[slot.index()]
    }

    /// The shard holding `user`'s carts, orders and idempotency records.
    pub fn shard_of_user(&self, user: &UserId) -> usize {
        self.shard_of(Slot::of(user))
    }

    /// How many shards the map names (the highest index + 1).
    pub fn shard_count(&self) -> usize {
        self.shard_of.iter().max().map_or(0, |max| max + 1)
    }

    /// The slots `shard` holds.
    pub fn slots_of(&self, shard: usize) -> Vec<Slot> {
        Slot::all().filter(|slot| self.shard_of(*slot) == shard).collect()
    }

    /// Every (slot, shard), in ring order.
    pub fn assignments(&self) -> impl Iterator<Item = (Slot, usize)> + '_ {
        Slot::all().map(|slot| (slot, self.shard_of(slot)))
    }

    /// The same map spread over `shards` shards, moving as few slots as possible: each ends with 256/n slots (the
    /// first 256 mod n one more); a shard over its share gives up its highest slots, to the shards under theirs in
    /// order; no slot moves between two shards that both keep their share. Growing from 4 shards to 5 moves 51
    /// slots, all to the new shard (an even map over 5 would move many more between the old ones).
    pub fn rebalanced(&self, shards: usize) -> Self {
        let shards = shards.max(1);
        let share = |shard: usize| SLOTS / shards + usize::from(shard < SLOTS % shards);
        let mut held: Vec<Vec<Slot>> = vec![Vec::new(); shards.max(self.shard_count())];
        for (slot, shard) in self.assignments() {
            held[shard].push(slot);
        }
        let mut leaving = Vec::new();
        for (shard, slots) in held.iter_mut().enumerate() {
            let keep = if shard < shards { share(shard) } else { 0 };
            while slots.len() > keep {
                leaving.extend(slots.pop());
            }
        }
        let mut next = self.clone();
        for (shard, slots) in held.iter().enumerate().take(shards) {
            for _ in slots.len()..share(shard) {
                if let Some(slot) = leaving.pop() {
                    next.shard_of[slot.index()] = shard;
                }
            }
        }
        next
    }

    /// The same map with `slot` on `shard`.
    pub fn with(&self, slot: Slot, shard: usize) -> Self {
        let mut next = self.clone();
        next.shard_of[slot.index()] = shard;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(raw: &str) -> UserId {
        UserId::parse(raw).expect("a user id")
    }

    #[test]
    fn a_users_slot_is_the_first_byte_of_the_sha256_of_their_id() {
        // Expected values from Python's hashlib, independently of this code.
        assert_eq!(Slot::of(&user("user-1")).index(), 198);
        assert_eq!(Slot::of(&user("shopper-a")).index(), 211);
        assert_eq!(Slot::of(&user("01J00000000000000000000000")).index(), 90);
    }

    #[test]
    fn an_even_map_gives_each_shard_one_contiguous_range_of_equal_size() {
        let map = SlotMap::even(4);
        assert_eq!(map.shard_count(), 4);
        for shard in 0..4 {
            let slots: Vec<usize> = map.slots_of(shard).iter().map(|s| s.index()).collect();
            assert_eq!(slots, (shard * 64..(shard + 1) * 64).collect::<Vec<_>>());
        }
        assert_eq!(SlotMap::even(1).slots_of(0).len(), SLOTS);
        let thirds: Vec<usize> = (0..3).map(|shard| SlotMap::even(3).slots_of(shard).len()).collect();
        assert_eq!(thirds, [86, 85, 85], "256 = 86 + 85 + 85");
    }

    #[test]
    fn users_spread_evenly_over_the_shards() {
        let map = SlotMap::even(4);
        let mut per_shard = [0usize; 4];
        for n in 0..20_000 {
            per_shard[map.shard_of_user(&user(&format!("user-{n}")))] += 1;
        }
        for count in per_shard {
            assert!((4_500..=5_500).contains(&count), "{per_shard:?}");
        }
    }

    #[test]
    fn growing_moves_only_the_new_shards_share_and_shrinking_empties_the_last() {
        let four = SlotMap::even(4);
        let five = four.rebalanced(5);
        let moved: Vec<Slot> = Slot::all().filter(|s| four.shard_of(*s) != five.shard_of(*s)).collect();
        assert_eq!(moved.len(), 51, "only the new shard's share moves");
        assert!(moved.iter().all(|s| five.shard_of(*s) == 4), "and all of it to the new shard");
        let counts: Vec<usize> = (0..5).map(|shard| five.slots_of(shard).len()).collect();
        assert_eq!(counts, [52, 51, 51, 51, 51]);
        assert_eq!(five.rebalanced(5), five, "a balanced map stays as it is");
        let back = five.rebalanced(4);
        assert!(back.slots_of(4).is_empty(), "shrinking empties the shards past the count");
        assert_eq!((0..4).map(|shard| back.slots_of(shard).len()).sum::<usize>(), SLOTS);
    }

    #[test]
    fn a_stored_map_names_every_slot_once() {
        let map = SlotMap::even(2).with(Slot(0), 1);
        assert_eq!(SlotMap::from_assignments(map.assignments()), Ok(map.clone()));
        assert_eq!(map.shard_of(Slot(0)), 1);
        let missing = map.assignments().skip(1);
        assert!(SlotMap::from_assignments(missing).is_err());
        let twice = map.assignments().chain([(Slot(3), 0)]);
        assert!(SlotMap::from_assignments(twice).is_err());
    }
}
