//! Given names that are one name: nicknames ("bill" / "william", "memo" / "mehmet") and
//! transliterations of one name ("mohamed" / "muhammad", "sasha" / "aleksandr"), in the folded
//! lower-case ASCII that name normalisation produces. Each variant maps to one canonical form;
//! two name tokens with the same canonical form count as the same name in the name comparison.
//!
//! Only variants that name one name are listed: a nickname shared by two unrelated names
//! ("al": albert or alan) or a name that is also a distinct given name of its own ("harry",
//! "jack", "liam") is left out, so a variant never joins two different people's names.

use std::collections::HashMap;
use std::sync::OnceLock;

/// (canonical, variants). Canonical forms are the full names; variants are folded like
/// normalised names (Turkish letters folded, Cyrillic and Greek transliterated).
const GROUPS: &[(&str, &[&str])] = &[
    // English
    ("william", &["bill", "billy", "will", "willy"]),
    ("robert", &["bob", "bobby", "rob", "robbie"]),
    ("elizabeth", &["liz", "lizzie", "beth", "betty", "eliza"]),
    ("katherine", &["kate", "kathy", "katie", "catherine", "kathryn"]),
    ("michael", &["mike", "mick", "mikey"]),
    ("james", &["jim", "jimmy", "jamie"]),
    ("richard", &["rick", "ricky", "dick", "rich", "richie"]),
    ("thomas", &["tom", "tommy"]),
    ("christopher", &["chris"]),
    ("jennifer", &["jenny", "jen"]),
    ("margaret", &["maggie", "peggy", "meg"]),
    ("joseph", &["joe", "joey"]),
    ("daniel", &["dan", "danny"]),
    ("samuel", &["sam", "sammy"]),
    ("benjamin", &["ben", "benny"]),
    ("matthew", &["matt"]),
    ("nicholas", &["nick", "nicky"]),
    ("rebecca", &["becky"]),
    ("patricia", &["pat", "patty"]),
    ("anthony", &["tony"]),
    ("andrew", &["andy", "drew"]),
    ("steven", &["steve", "stephen"]),
    ("david", &["dave"]),
    ("edward", &["ed", "eddie"]),
    ("charles", &["charlie", "chuck"]),
    ("gregory", &["greg"]),
    ("jonathan", &["jon"]),
    ("kenneth", &["ken", "kenny"]),
    ("susan", &["sue", "susie"]),
    ("jessica", &["jess", "jessie"]),
    // German
    ("johannes", &["hans"]),
    ("friedrich", &["fritz"]),
    ("katharina", &["kathi"]),
    ("maximilian", &["max"]),
    ("josef", &["sepp"]),
    // Spanish
    ("francisco", &["paco", "pancho"]),
    ("jose", &["pepe"]),
    ("guadalupe", &["lupe"]),
    ("antonio", &["tono"]),
    ("ignacio", &["nacho"]),
    ("dolores", &["lola"]),
    // Turkish
    ("mehmet", &["memo", "memet"]),
    ("mustafa", &["musti", "musto"]),
    ("huseyin", &["huso"]),
    ("ibrahim", &["ibo"]),
    ("abdullah", &["apo", "abdallah"]),
    ("fatma", &["fatos", "fatima"]),
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
    ("aleksandr", &["alexander", "aleksander", "alexandr", "alex", "sasha", "sascha"]),
    ("dmitriy", &["dmitry", "dmitrii", "dmitri", "dima"]),
    ("ekaterina", &["katya", "yekaterina"]),
    ("natalya", &["natalia", "natasha", "natalja"]),
    ("sergey", &["sergei", "serguei"]),
    ("tatyana", &["tatiana", "tanya"]),
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
    fn variants_map_to_one_name() {
        assert!(same_name("bill", "william"));
        assert!(same_name("will", "bill"), "two variants of one name");
        assert!(same_name("memo", "mehmet"));
        assert!(same_name("mohamed", "muhammad"));
        assert!(same_name("sasha", "alexander"));
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
