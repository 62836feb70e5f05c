//! Allocation-free string similarity used on the hot path of pair scoring.
//!
//! `strsim` allocates a flag vector per Jaro call and a hash map per Damerau–Levenshtein call;
//! with tens of millions of candidate pairs that allocation dominates, so the two measures the
//! comparison levels need are implemented here over slices (chars for names, bytes for ASCII
//! identifiers). [`jaro_winkler`] returns exactly what `strsim::generic_jaro_winkler` returns
//! (tested), falling back to it only for strings longer than 64 elements.

/// Jaro–Winkler similarity in [0, 1] (same definition and result as `strsim`: prefix bonus of
/// 0.1 per common leading element, at most 4, applied only when Jaro > 0.7).
pub fn jaro_winkler<T: PartialEq + Copy>(a: &[T], b: &[T]) -> f64 {
    if a.len() > 64 || b.len() > 64 {
        return strsim::generic_jaro_winkler(&a.to_vec(), &b.to_vec());
    }
    let sim = jaro64(a, b);
    if sim > 0.7 {
        let prefix = a.iter().take(4).zip(b).take_while(|(x, y)| x == y).count();
        sim + 0.1 * prefix as f64 * (1.0 - sim)
    } else {
        sim
    }
}

/// The letters of a name part as a set of 64 bits, for [`jaro_winkler_or_below`]: one bit for
/// each of a–z seen once, one more for each seen twice; any other character shares one of six
/// buckets (which can only make the bound looser). 0 (no bound) for an empty part and for one
/// with a letter or bucket seen three times or more, which the set cannot count.
pub fn letter_sig<T: Copy + Into<u32>>(s: &[T]) -> u64 {
    let (mut once, mut twice) = (0u64, 0u64);
    for &c in s {
        let c: u32 = c.into();
        let bit = 1u64 << if (97..=122).contains(&c) { c - 97 } else { 26 + c % 6 };
        if twice & bit != 0 {
            return 0;
        }
        if once & bit != 0 {
            twice |= bit;
        } else {
            once |= bit;
        }
    }
    once | (twice << 32)
}

/// [`jaro_winkler`] where it is at least `floor`; below it, perhaps only an upper bound of it
/// (still below `floor`). The bound comes from the letters the two share ([`letter_sig`] of
/// each): Jaro's matches are at most the common letters, its transposition term at most 1, and
/// the Winkler prefix bonus grows with Jaro. Most candidate pairs are two different names, for
/// which the bound settles "not even similar" without aligning them letter by letter.
pub fn jaro_winkler_or_below<T: PartialEq + Copy>(a: &[T], sig_a: u64, b: &[T], sig_b: u64, floor: f64) -> f64 {
    if sig_a != 0 && sig_b != 0 {
        let m = ((sig_a & sig_b).count_ones() as usize).min(a.len()).min(b.len()) as f64;
        let jaro = if m == 0.0 { 0.0 } else { (m / a.len() as f64 + m / b.len() as f64 + 1.0) / 3.0 };
        let bound = if jaro > 0.7 {
            let prefix = a.iter().take(4).zip(b).take_while(|(x, y)| x == y).count();
            jaro + 0.1 * prefix as f64 * (1.0 - jaro)
        } else {
            jaro
        };
        // a margin for rounding: a value at the floor is always computed exactly
        if bound < floor - 1e-9 {
            return bound;
        }
    }
    jaro_winkler(a, b)
}

/// Jaro similarity for slices of at most 64 elements, match flags kept in two u64 bitmasks.
fn jaro64<T: PartialEq + Copy>(a: &[T], b: &[T]) -> f64 {
    let (la, lb) = (a.len(), b.len());
    if la == 0 && lb == 0 {
        return 1.0;
    }
    if la == 0 || lb == 0 {
        return 0.0;
    }
    let range = (la.max(lb) / 2).saturating_sub(1);
    let (mut fa, mut fb) = (0u64, 0u64);
    let mut matches = 0usize;
    for (i, x) in a.iter().enumerate() {
        let lo = i.saturating_sub(range);
        let hi = (i + range + 1).min(lb);
        for (j, y) in b.iter().enumerate().take(hi).skip(lo) {
            if fb & (1 << j) == 0 && x == y {
                fa |= 1 << i;
                fb |= 1 << j;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut trans = 0usize;
    let mut k = 0usize;
    for (i, x) in a.iter().enumerate() {
        if fa & (1 << i) != 0 {
            while fb & (1 << k) == 0 {
                k += 1;
            }
            if *x != b[k] {
                trans += 1;
            }
            k += 1;
        }
    }
    let t = trans / 2;
    let m = matches as f64;
    (m / la as f64 + m / lb as f64 + (matches - t) as f64 / m) / 3.0
}

/// Optimal-string-alignment (restricted Damerau–Levenshtein) distance ≤ 1: equal, or one
/// insertion, deletion, substitution or transposition of two adjacent elements apart. O(n).
pub fn within_one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let mut i = 0;
    while i < la && i < lb && a[i] == b[i] {
        i += 1;
    }
    if la == lb {
        if i == la {
            return true;
        }
        if a[i + 1..] == b[i + 1..] {
            return true; // substitution
        }
        i + 1 < la && a[i] == b[i + 1] && a[i + 1] == b[i] && a[i + 2..] == b[i + 2..]
    } else if la < lb {
        a[i..] == b[i + 1..] // insertion into a
    } else {
        a[i + 1..] == b[i..] // deletion from a
    }
}

/// Jaccard similarity of two sorted, deduplicated slices (1.0 when both are empty).
pub fn jaccard_sorted(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}

/// 64-bit FNV-1a with a splitmix finaliser: a fixed, fast, platform-independent hash for
/// blocking keys and tokens (std's `DefaultHasher` is not guaranteed stable across releases).
pub fn hash64(tag: u8, s: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(tag);
    for &c in s {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// splitmix64 finaliser (bijective avalanche).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hasher for keys that are small integers (comparison level codes): one splitmix round per
/// word instead of SipHash. Not DoS-resistant, which does not matter for codes we compute.
#[derive(Clone, Copy, Debug, Default)]
pub struct MixHasher(u64);

impl std::hash::Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix64(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = mix64(self.0 ^ x);
    }
}

/// HashMap with [`MixHasher`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<MixHasher>>;

/// Deterministic splitmix64 generator (no crate, same sequence on every platform).
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in 0..n (n > 0); Lemire's multiply-shift, bias negligible for n ≪ 2^64.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn jaro_winkler_equals_strsim() {
        let words = [
            "",
            "a",
            "ab",
            "ayse",
            "aysa",
            "ayşe",
            "mehmet",
            "memet",
            "kaya",
            "kara",
            "yilmaz",
            "yilmas",
            "dwayne",
            "duane",
            "martha",
            "marhta",
            "abcdefghijklmnopqrstuvwxyz",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "x",
        ];
        for a in words {
            for b in words {
                let ours = jaro_winkler(&c(a), &c(b));
                let theirs = strsim::jaro_winkler(a, b);
                assert!((ours - theirs).abs() < 1e-12, "{a} {b}: {ours} vs {theirs}");
            }
        }
        // pseudo-random strings over a small alphabet exercise transpositions
        let mut r = SplitMix64(7);
        for _ in 0..5000 {
            let mk = |r: &mut SplitMix64| -> String {
                let n = r.below(12) as usize;
                (0..n).map(|_| (b'a' + r.below(4) as u8) as char).collect()
            };
            let (a, b) = (mk(&mut r), mk(&mut r));
            let ours = jaro_winkler(a.as_bytes(), b.as_bytes());
            assert!(
                (ours - strsim::jaro_winkler(&a, &b)).abs() < 1e-12,
                "{a} {b}"
            );
        }
    }

    #[test]
    fn jaro_winkler_or_below_is_exact_at_or_above_the_floor_and_below_it_otherwise() {
        let names = [
            "ayse", "ayşe", "aysa", "mehmet", "memet", "mehmed", "kaya", "kara", "yilmaz", "yilmas", "james", "jaems",
            "peter", "anna", "hannah", "hanna", "michael", "michelle", "mississippi", "catherine", "katherine", "x",
            "ab", "ba", "smith", "smyth", "o'brien", "obrien", "김민준", "김민수", "محمد", "أحمد",
        ];
        let mut words: Vec<Vec<char>> = names.iter().map(|n| c(n)).collect();
        // random strings over small alphabets: repeated letters, transpositions, shared letters
        // far apart, and letters outside a-z sharing buckets
        let mut r = SplitMix64(11);
        for alphabet in ["abcd", "aeiourst", "çğıöşü", "abcdefghijklmnopqrstuvwxyz"] {
            let letters: Vec<char> = alphabet.chars().collect();
            for _ in 0..300 {
                let n = 1 + r.below(10) as usize;
                words.push((0..n).map(|_| letters[r.below(letters.len() as u64) as usize]).collect());
            }
        }
        let mut bounded = 0;
        for a in &words {
            for b in &words {
                let exact = jaro_winkler(a, b);
                for floor in [0.8, 0.92] {
                    let got = jaro_winkler_or_below(a, letter_sig(a), b, letter_sig(b), floor);
                    if exact >= floor {
                        assert_eq!(got, exact, "{a:?} {b:?} floor {floor}");
                    } else {
                        assert!(got < floor && got >= exact - 1e-12, "{a:?} {b:?} floor {floor}: {got} for {exact}");
                    }
                    bounded += usize::from(got > exact);
                }
            }
        }
        // the bound stands in for the value (it is looser than the value) on some pairs
        assert!(bounded > 1000, "{bounded} pairs settled by the bound");
        assert_eq!(letter_sig(&c("aaa")), 0);
        assert_eq!(letter_sig(&c("")), 0);
        assert_eq!(letter_sig(&c("aa")), 1 | (1 << 32));
    }

    #[test]
    fn one_edit_matches_osa_distance() {
        assert!(within_one_edit(b"yilmaz", b"yilmaz"));
        assert!(within_one_edit(b"yilmaz", b"yilmas"));
        assert!(within_one_edit(b"yilmaz", b"yimlaz"));
        assert!(within_one_edit(b"yilmaz", b"yilmaaz"));
        assert!(within_one_edit(b"yilmaz", b"ilmaz"));
        assert!(!within_one_edit(b"yilmaz", b"ylimas"));
        assert!(!within_one_edit(b"ab", b"ba ab"));
        assert!(within_one_edit(b"", b"a"));
        let mut r = SplitMix64(11);
        for _ in 0..20000 {
            let mk = |r: &mut SplitMix64| -> String {
                let n = r.below(6) as usize;
                (0..n).map(|_| (b'a' + r.below(3) as u8) as char).collect()
            };
            let (a, b) = (mk(&mut r), mk(&mut r));
            let osa = strsim::osa_distance(&a, &b);
            assert_eq!(
                within_one_edit(a.as_bytes(), b.as_bytes()),
                osa <= 1,
                "{a} {b}"
            );
        }
    }

    #[test]
    fn jaccard() {
        assert_eq!(jaccard_sorted(&[1, 2, 3], &[2, 3, 4]), 0.5);
        assert_eq!(jaccard_sorted(&[], &[]), 1.0);
        assert_eq!(jaccard_sorted(&[1], &[]), 0.0);
    }

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let mut a = SplitMix64(1);
        let mut b = SplitMix64(1);
        for _ in 0..1000 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
            let u = a.unit();
            assert_eq!(u, b.unit());
            assert!((0.0..1.0).contains(&u));
        }
        assert_ne!(hash64(0, b"a"), hash64(1, b"a"));
    }
}
