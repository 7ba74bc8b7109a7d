//! Names from sources, compared the way warehouses resolve them.
//!
//! Table and column names come from files, APIs and Airtable bases that
//! other people write. SQLite and DuckDB resolve identifiers without regard
//! to ASCII case (`Orders`, `orders` and `ORDERS` are one table), so two
//! names that differ only in case would land in one table or one column.
//! [`fold`] is that comparison; [`collisions`] finds the names of a list that
//! would share a table; [`is_reserved`] tells etl's own names (`_etl_…`, in
//! any case) apart.
//!
//! ```
//! use etl_core::names;
//!
//! assert!(names::is_reserved("_ETL_state"));
//! assert!(!names::is_reserved("etl_state"));
//! assert_eq!(names::fold("Orders"), names::fold("ORDERS"));
//! assert_eq!(
//!     names::collisions(["Orders", "users", "orders"]),
//!     vec![("Orders", "orders")]
//! );
//! ```

/// The prefix of every name etl keeps for itself: `_etl_loads`, `_etl_state`,
/// staging tables, helper columns. Refused from sources in any case.
pub const RESERVED_PREFIX: &str = "_etl_";

/// Whether `name` starts with [`RESERVED_PREFIX`], in any ASCII case (the
/// way SQLite and DuckDB would resolve it).
pub fn is_reserved(name: &str) -> bool {
    name.len() >= RESERVED_PREFIX.len()
        && name.as_bytes()[..RESERVED_PREFIX.len()].eq_ignore_ascii_case(RESERVED_PREFIX.as_bytes())
}

/// The form under which SQLite and DuckDB look a name up: ASCII letters in
/// lower case, every other character as it is (both databases tell `É` and
/// `é` apart).
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Each pair of `names` that [`fold`] makes one, the earlier name first, in
/// the order the later names come.
pub fn collisions<'a, I>(names: I) -> Vec<(&'a str, &'a str)>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut seen: std::collections::HashMap<String, &'a str> = std::collections::HashMap::new();
    let mut pairs = Vec::new();
    for name in names {
        match seen.entry(fold(name)) {
            std::collections::hash_map::Entry::Occupied(first) => {
                pairs.push((*first.get(), name));
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(name);
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_in_any_case_and_only_as_a_prefix() {
        for name in ["_etl_loads", "_ETL_STATE", "_Etl_Staging_x", "_etl_"] {
            assert!(is_reserved(name), "{name}");
        }
        for name in ["etl_loads", "_etl", "x_etl_", "", "_e", "é_etl_"] {
            assert!(!is_reserved(name), "{name}");
        }
    }

    #[test]
    fn folding_touches_ascii_letters_only() {
        assert_eq!(fold("Orders"), "orders");
        assert_eq!(fold("ÉTÉ"), "ÉtÉ".to_ascii_lowercase());
        assert_ne!(fold("É"), fold("é"));
    }

    #[test]
    fn every_colliding_pair_is_named() {
        assert_eq!(
            collisions(["id", "ID", "name", "Id"]),
            vec![("id", "ID"), ("id", "Id")]
        );
        assert!(collisions(["a", "b", "é", "É"]).is_empty());
    }
}
