//! Given names that are one name: nicknames ("bill" / "william", "memo" / "mehmet") and
//! transliterations of one name ("mohamed" / "muhammad", "dima" / "dmitriy"), in the folded
//! lower-case ASCII that name normalisation produces. Each variant maps to one canonical form.
//! The name comparison asks only about the first token of two names (the given name), and a
//! variant counts as a similar name, not the same one.
//!
//! Only variants that name one name are listed: a nickname shared by two names ("alex": alexander
//! or alexandra, "pat": patrick or patricia, "sasha", "chris", "sam") or a nickname that is a
//! given name of its own ("max", "hans", "kate", "natasha", "fatima") is left out, so a variant
//! never joins two different people's given names.

use std::collections::HashMap;
use std::sync::OnceLock;

/// (canonical, variants). Canonical forms are the full names; variants are folded like
/// normalised names (Turkish letters folded, Cyrillic and Greek transliterated).
const GROUPS: &[(&str, &[&str])] = &[
    // English
    ("william", &["bill", "billy", "will", "willy"]),
    ("robert", &["bob", "bobby", "rob", "robbie"]),
    ("elizabeth", &["liz", "lizzie", "betty"]),
    ("katherine", &["kathy", "catherine", "kathryn"]),
    ("michael", &["mike", "mick", "mikey"]),
    ("james", &["jim", "jimmy"]),
    ("richard", &["dick", "rich", "richie"]),
    ("thomas", &["tom", "tommy"]),
    ("jennifer", &["jenny", "jen"]),
    ("margaret", &["maggie", "peggy"]),
    ("joseph", &["joe", "joey"]),
    ("daniel", &["dan", "danny"]),
    ("samuel", &["sammy"]),
    ("benjamin", &["ben", "benny"]),
    ("matthew", &["matt"]),
    ("nicholas", &["nick"]),
    ("rebecca", &["becky"]),
    ("patricia", &["patty"]),
    ("anthony", &["tony"]),
    ("steven", &["steve", "stephen"]),
    ("david", &["dave"]),
    ("edward", &["eddie"]),
    ("charles", &["chuck"]),
    ("gregory", &["greg"]),
    ("kenneth", &["ken", "kenny"]),
    ("susan", &["sue", "susie"]),
    ("jessica", &["jess"]),
    // German
    ("friedrich", &["fritz"]),
    ("katharina", &["kathi"]),
    ("josef", &["sepp"]),
    // Spanish
    ("francisco", &["paco", "pancho"]),
    ("jose", &["pepe"]),
    ("guadalupe", &["lupe"]),
    ("antonio", &["tono"]),
    ("ignacio", &["nacho"]),
    // Turkish
    ("mehmet", &["memo", "memet"]),
    ("mustafa", &["musti", "musto"]),
    ("huseyin", &["huso"]),
    ("ibrahim", &["ibo"]),
    ("abdullah", &["apo", "abdallah"]),
    ("zeynep", &["zeyno"]),
    ("kemal", &["kemo"]),
    ("ahmet", &["ahmed"]),
    ("osman", &["osmo"]),
    ("ramazan", &["ramo"]),
    ("hatice", &["hatce"]),
    ("emine", &["emos"]),
    // Arabic, in its common Latin spellings
    ("muhammad", &["mohammed", "mohamed", "mohammad", "muhammed", "mohamad"]),
    ("yusuf", &["youssef", "yousef", "yousuf", "yosef"]),
    ("aisha", &["ayesha", "aysha", "aishah"]),
    ("mahmud", &["mahmoud", "mahmut"]),
    // Russian, transliterated
    ("aleksandr", &["alexander", "aleksander", "alexandr"]),
    ("dmitriy", &["dmitry", "dmitrii", "dmitri", "dima"]),
    ("ekaterina", &["katya", "yekaterina"]),
    ("natalya", &["natalia", "natalja"]),
    ("sergey", &["sergei", "serguei"]),
    ("tatyana", &["tatiana"]),
    ("aleksey", &["alexei", "alexey", "aleksei"]),
    // Greek, transliterated
    ("giorgos", &["georgios", "george", "giorgis", "yiorgos"]),
    ("nikos", &["nikolaos"]),
    ("giannis", &["ioannis", "yannis", "yiannis"]),
];

fn table() -> &'static HashMap<&'static str, &'static str> {
    static TABLE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        GROUPS
            .iter()
            .flat_map(|(canon, variants)| variants.iter().map(move |v| (*v, *canon)))
            .collect()
    })
}

/// The group of a given-name token: the index of its canonical form when the token is listed, as
/// a variant or as the canonical form itself; None for any other token. Two tokens are
/// variants of one name exactly when they differ and have the same group ([`same_name`]).
pub fn group(token: &str) -> Option<u16> {
    static INDEX: OnceLock<HashMap<&'static str, u16>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut m = HashMap::new();
        for (i, (canon, _)) in GROUPS.iter().enumerate() {
            m.entry(*canon).or_insert(i as u16);
        }
        m
    });
    index.get(canonical(token)).copied()
}

/// The canonical form of a given-name token: itself unless it is a listed variant.
pub fn canonical(token: &str) -> &str {
    table().get(token).copied().unwrap_or(token)
}

/// Whether two name tokens are variants of one name (equal included).
pub fn same_name(a: &str, b: &str) -> bool {
    a == b || canonical(a) == canonical(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_say_what_same_name_says() {
        let mut tokens: Vec<&str> = GROUPS.iter().flat_map(|(c, v)| std::iter::once(*c).chain(v.iter().copied())).collect();
        tokens.extend(["unlisted", "ayse", "mehmet", "zeynep"]);
        for a in &tokens {
            for b in &tokens {
                let by_group = a == b || matches!((group(a), group(b)), (Some(x), Some(y)) if x == y);
                assert_eq!(by_group, same_name(a, b), "{a} / {b}");
            }
        }
        assert_eq!(group("unlisted"), None);
        assert_eq!(group("bill"), group("william"));
    }

    #[test]
    fn variants_map_to_one_name() {
        assert!(same_name("bill", "william"));
        assert!(same_name("will", "bill"), "two variants of one name");
        assert!(same_name("memo", "mehmet"));
        assert!(same_name("mohamed", "muhammad"));
        assert!(same_name("dima", "dmitry"));
        assert!(!same_name("alex", "aleksandr"), "alex is also alexandra");
        assert!(same_name("ayse", "ayse"));
        assert!(!same_name("ayse", "fatma"));
        assert!(!same_name("william", "robert"));
        assert_eq!(canonical("unlisted"), "unlisted");
    }

    #[test]
    fn no_variant_belongs_to_two_names_and_no_name_is_a_variant() {
        let mut seen = std::collections::HashSet::new();
        for (canon, variants) in GROUPS {
            assert!(!table().contains_key(canon), "{canon} is canonical and a variant");
            for v in *variants {
                assert!(seen.insert(*v), "{v} listed twice");
                assert!(v.bytes().all(|b| b.is_ascii_lowercase()), "{v} is not folded");
            }
        }
    }
}
