//! Phone numbers → E.164 (`+<country code><national significant number>`).

use super::name::fold_small;
use super::placeholder::{all_same, is_digit_run};
use super::reason;
use super::words::Words;

/// Every assigned ITU-T E.164 country calling code (geographic and global services), sorted.
/// The set is prefix-free, so a number's code is its only prefix found here.
pub const CALLING_CODES: &[u16] = &[
    1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54,
    55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, 211,
    212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234,
    235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253,
    254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297, 298,
    299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377,
    378, 379, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505,
    506, 507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675,
    676, 677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850,
    852, 853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964, 965, 966,
    967, 968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 991, 992, 993, 994, 995, 996, 998,
];

/// One range of a national numbering plan: national significant numbers that start with
/// `prefix` have one of the lengths in `lens`.
///
/// `prefix` is a sequence of digits and digit classes (`"7[1-57-9]"`, `"1[38]00"`). In a plan's
/// table the first range whose prefix matches decides: list the specific ranges before the
/// general ones (`"800"` before `"[2-9]"`). A number that matches no range is unassigned.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub prefix: &'static str,
    /// bit n set: NSN length n allowed
    pub lens: u32,
}

/// Lengths `min..=max` as a bit set (for [`Range::lens`]).
pub const fn lens(min: u8, max: u8) -> u32 {
    let mut m = 0u32;
    let mut n = min;
    while n <= max {
        m |= 1 << n;
        n += 1;
    }
    m
}

const fn r(prefix: &'static str, min: u8, max: u8) -> Range {
    Range {
        prefix,
        lens: lens(min, max),
    }
}

/// A range with two separate lengths (Dutch 0800 + 4 or 7 digits).
const fn r2(prefix: &'static str, a: u8, b: u8) -> Range {
    Range {
        prefix,
        lens: lens(a, a) | lens(b, b),
    }
}

/// Maps another written form of a national significant number to the NSN ([`Plan::alt`]).
pub type AltForm = fn(&[u8]) -> Option<Nsn>;

/// Numbering rules of a country that can be a default country (national numbers accepted).
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// ISO 3166-1 alpha-2
    pub iso: &'static str,
    /// calling code digits
    pub cc: &'static str,
    /// national (trunk) prefixes written before the national significant number
    pub trunk: &'static [&'static str],
    /// Whether a matching trunk prefix is always stripped (the NSN never starts with it:
    /// true for the usual trunk "0"); otherwise it is stripped only when the plan says so
    /// (the number is no NSN with it and is one without it).
    pub trunk_always: bool,
    /// prefixes that may follow the country code in international notation and are dropped
    /// when the plan says so (Mexico's old mobile "1")
    pub intl_extra: &'static [&'static str],
    /// international call prefixes other than "00" (NANP "011", Russia "8~10" = "810",
    /// Australia "0011", Japan "010", Singapore "001", Taiwan "002"), tried before "00"
    pub idd: &'static [&'static str],
    /// digits of a carrier selection code that may follow the trunk prefix (Brazil:
    /// "0 21 11 ..."; its international prefixes "00" + carrier code are in `idd`)
    pub carrier: u8,
    /// national significant number length range (all ranges' lengths lie inside)
    pub min: u8,
    pub max: u8,
    /// Assigned ranges with their lengths; empty: any NSN of `min..=max` digits.
    /// NANP (+1) numbers are checked by rule instead ([`nanp_ok`]).
    pub ranges: &'static [Range],
    /// Another written form of a national significant number, mapped to the NSN
    /// (Argentina's national mobile form with "15").
    pub alt: Option<AltForm>,
}

/// A North American Numbering Plan country: +1, trunk prefix 1, international prefix 011.
const fn nanp(iso: &'static str) -> Plan {
    Plan {
        iso,
        cc: "1",
        trunk: &["1"],
        trunk_always: false,
        intl_extra: &[],
        idd: &["011"],
        carrier: 0,
        min: 10,
        max: 10,
        ranges: &[],
        alt: None,
    }
}

/// A plan with trunk prefix `trunk` (always stripped when written), no other prefixes.
const fn p(
    iso: &'static str,
    cc: &'static str,
    trunk: &'static [&'static str],
    min: u8,
    max: u8,
    ranges: &'static [Range],
) -> Plan {
    Plan {
        iso,
        cc,
        trunk,
        trunk_always: !trunk.is_empty(),
        intl_extra: &[],
        idd: &[],
        carrier: 0,
        min,
        max,
        ranges,
        alt: None,
    }
}

/// [`p`] with the country's own international prefixes besides "00".
const fn pi(
    iso: &'static str,
    cc: &'static str,
    trunk: &'static [&'static str],
    idd: &'static [&'static str],
    min: u8,
    max: u8,
    ranges: &'static [Range],
) -> Plan {
    let mut pl = p(iso, cc, trunk, min, max, ranges);
    pl.idd = idd;
    pl
}

const T0: &[&str] = &["0"];
const NONE: &[&str] = &[];

// ---- national plans: ranges by leading digits (regulators' plans; ITU-T E.164 notifications)

/// TR (BTK): NSN 10; 2xx-4xx geographic, 5xx mobile, 8xx non-geographic (800, 850, ...),
/// 900 premium; 444 xxxx nationwide numbers; 1xx are short codes only, 6/7 unassigned.
const TR: &[Range] = &[r("444", 7, 7), r("[2-5]", 10, 10), r("[89]", 10, 10)];
/// GB (Ofcom): 01 NSN 9-10, 02/03/05x/07/09 NSN 10, 080 NSN 9-10, 084/087 NSN 10;
/// 04 and 06 are not designated.
const GB: &[Range] = &[
    r("1", 9, 10),
    r("[2379]", 10, 10),
    r("5[56]", 10, 10),
    r("80", 9, 10),
    r("8[47]", 10, 10),
];
/// DE (BNetzA): mobile 015x NSN 11, 016x/017x NSN 10-11 (0164/0168/0169 paging); 0137/0138
/// mass calls, 018x service and closed user groups; 0700 personal NSN 11, 0800/0900 NSN 10+;
/// geographic NSN up to 11, up to 13 with direct-dial extensions (as before); 010xx (carrier
/// selection), 011x, 012, 014, 019 hold no subscriber numbers.
const DE: &[Range] = &[
    r("15", 11, 11),
    r("16[489]", 6, 13),
    r("1[67]", 10, 11),
    r("137", 10, 10),
    r("138", 7, 7),
    r("18", 8, 13),
    r("32", 9, 13),
    r("700", 11, 11),
    r("800", 10, 13),
    r("900", 10, 11),
    r("[2-9]", 6, 13),
];
/// FR (ARCEP): NSN 9; 01-05 geographic, 06 and 073-079 mobile, 08 special, 09 non-geographic.
const FR: &[Range] = &[r("[1-6]", 9, 9), r("7[3-9]", 9, 9), r("[89]", 9, 9)];
/// NL (ACM): NSN 9; 06-1..5/8 mobile (066 pagers, 067 dial-in); 0800/090x + 4 or 7 digits;
/// 097 M2M NSN 11.
const NL: &[Range] = &[
    r("6[1-8]", 9, 9),
    r2("800", 7, 10),
    r2("90[069]", 7, 10),
    r("8[2-8]", 9, 9),
    r("91", 9, 9),
    r("97", 11, 11),
    r("[1-57]", 9, 9),
];
/// BE (BIPT): mobile 046-049 NSN 9; 0800 + 5; everything else NSN 8.
const BE: &[Range] = &[r("4[5-9]", 9, 9), r("[1-9]", 8, 8)];
/// ES (CNMC): NSN 9, no trunk prefix; 1-4 not designated for subscriber numbers.
const ES: &[Range] = &[r("[5-9]", 9, 9)];
/// IT (AGCOM): landlines keep the 0 (NSN 6-11); mobiles 3xx NSN 9-10; 80x/89x/84x special;
/// 178/199 personal, 144/16x premium; 43x M2M and 55 VoIP NSN 10; NSN starting 2, 6, 7, 9 not
/// designated.
const IT: &[Range] = &[
    r("0", 6, 11),
    r("3", 9, 10),
    r("8", 6, 10),
    r("1[79]", 9, 10),
    r("144", 9, 9),
    r("16[346]", 9, 9),
    r("4", 10, 10),
    r("5", 10, 10),
];
/// AT (RTR): open plan, area codes of 1-4 digits, NSN 6-13.
const AT: &[Range] = &[r("[1-9]", 6, 13)];
/// CH (BAKOM): NSN 9; 01 withdrawn (Zurich moved to 043/044).
const CH: &[Range] = &[r("[2-9]", 9, 9)];
/// SE (PTS): 07x NSN 9; geographic and 020 NSN 7-9; 09x premium up to 10.
const SE: &[Range] = &[r("7", 9, 9), r("9", 7, 10), r("[1-68]", 7, 9)];
/// NO (Nkom), DK: NSN 8, first digit 2-9.
const NO_DK: &[Range] = &[r("[2-9]", 8, 8)];
/// PL (UKE): NSN 9 (800 + 6 or 7); 10, 11, 19 are short codes.
const PL: &[Range] = &[r("800", 9, 10), r("1[2-8]", 9, 9), r("[2-9]", 9, 9)];
/// GR (EETT): NSN 10; 2 geographic, 5/7/8/9 non-geographic, 69 mobile.
const GR: &[Range] = &[r("800", 10, 12), r("2", 10, 10), r("[5-9]", 10, 10)];
/// PT (ANACOM): NSN 9; 2 geographic, 3 nomadic, 6/7/8 non-geographic, 9 mobile.
const PT: &[Range] = &[r("[236-9]", 9, 9)];
/// IE (ComReg): Dublin 01 + 7; 1800/15xx/18x0 NSN 10; other areas NSN 7-9; 08x mobile NSN 9.
const IE: &[Range] = &[
    r2("1[58]", 8, 10),
    r("1", 8, 8),
    r("8", 9, 9),
    r("[2-79]", 7, 9),
];
/// RU and KZ (shared zone 7, NSN 10): 3xx/4xx/8xx Russia, 9xx Russian mobiles, 6xx/7xx
/// Kazakhstan; 8xx only where assigned (80x non-geographic, 81x-87x geographic); 0, 1, 2, 5
/// unassigned (2xx reserved).
const ZONE7: &[Range] = &[
    r("[34679]", 10, 10),
    r("80[03489]", 10, 10),
    r("81[1-8]", 10, 10),
    r("82[01]", 10, 10),
    r("83[13-6]", 10, 10),
    r("84[0-8]", 10, 10),
    r("85[15-7]", 10, 10),
    r("86[0-35-79]", 10, 10),
    r("87[1-37-9]", 10, 10),
];
/// UA (NKRZI): NSN 9 (800/900 up to 10).
const UA: &[Range] = &[r("[89]0", 9, 10), r("[3-9]", 9, 9)];
/// AE (TDRA): mobile 05x NSN 9; fixed 0[2-4679] + 7 (NSN 8); 800 freephone NSN 5-12;
/// 400/600/700/900 NSN 9.
const AE: &[Range] = &[
    r("800", 5, 12),
    r("[4679]00", 9, 9),
    r("5", 9, 9),
    r("[2-4679]", 8, 8),
];
/// SA (CST): fixed 01x and mobile 05x NSN 9; 800 NSN 10; 92x NSN 9.
const SA: &[Range] = &[r("800", 10, 10), r("[159]", 9, 9)];
/// IN (DoT): NSN 10; 1800 up to 13, 1860 NSN 11.
const IN: &[Range] = &[r("180", 10, 13), r("1860", 11, 11), r("[1-9]", 10, 10)];
/// CN (MIIT): mobile 13x-19x NSN 11; 010 and 02x + 8 (NSN 10); other areas 0xxx + 7-8 (and
/// 6-digit service numbers); 400/800 + 7; 12x is no subscriber range.
const CN: &[Range] = &[
    r("1[3-9]", 11, 11),
    r("10", 10, 10),
    r("2", 10, 10),
    r("[48]00", 10, 10),
    r("[3-9]", 9, 11),
];
/// JP (MIC): geographic NSN 9; 020/050/070/080/090 and 0800 NSN 10; 060 NSN 9-10; 0120 NSN 9;
/// 0x0 prefixes are never geographic (010 is the international prefix).
const JP: &[Range] = &[r("[25789]0", 10, 10), r("60", 9, 10), r("[1-9]", 9, 9)];
/// BR (ANATEL): 2-digit DDD area code (only the assigned ones) + 8-digit fixed number starting
/// 2-5 (or 7, trunked radio SME) (NSN 10) or 9 + 8-digit mobile (NSN 11); mobiles without the
/// ninth digit (8-digit numbers starting 6, 8, 9) are gone; 0300/0303/0500/0800/0900 + 6-7;
/// 300x/400x + 4.
const BR: &[Range] = &[
    r("30[03]", 8, 10),
    r("40", 8, 8),
    r("[589]00", 9, 10),
    r("1[1-9][2-57]", 10, 10),
    r("2[12478][2-57]", 10, 10),
    r("3[1-578][2-57]", 10, 10),
    r("4[1-9][2-57]", 10, 10),
    r("5[13-5][2-57]", 10, 10),
    r("6[1-9][2-57]", 10, 10),
    r("7[13-579][2-57]", 10, 10),
    r("8[1-9][2-57]", 10, 10),
    r("9[1-9][2-57]", 10, 10),
    r("1[1-9]9", 11, 11),
    r("2[12478]9", 11, 11),
    r("3[1-578]9", 11, 11),
    r("4[1-9]9", 11, 11),
    r("5[13-5]9", 11, 11),
    r("6[1-9]9", 11, 11),
    r("7[13-579]9", 11, 11),
    r("8[1-9]9", 11, 11),
    r("9[1-9]9", 11, 11),
];
/// MX (IFT): NSN 10, area codes 2-9.
const MX: &[Range] = &[r("[2-9]", 10, 10)];
/// AU (ACMA): NSN 9 for 02/03/07/08 geographic and 04 mobile; 13 xx xx, 1300/1800/1900 + 6,
/// 180 xxxx, 014x satellite, 016 paging; 06 and 09 not designated.
const AU: &[Range] = &[
    r("1[38]00", 10, 10),
    r("190", 10, 10),
    r("16", 6, 9),
    r("180", 7, 7),
    r("13", 6, 6),
    r("14", 9, 9),
    r("[2-478]", 9, 9),
];
/// FI (Traficom): open; mobile 04x/050 NSN 6-10, others 5-12.
const FI: &[Range] = &[r("4", 6, 10), r("50", 6, 10), r("[1-9]", 5, 12)];
/// CZ (CTU): NSN 9, first digit 2-9.
const CZ_SK: &[Range] = &[r("[2-9]", 9, 9)];
/// HU (NMHH): mobiles 20/30/31/50/70, VoIP 21, corporate 38, 680x freephone: NSN 9; others
/// NSN 8.
const HU: &[Range] = &[
    r("[2357]0", 9, 9),
    r("3[18]", 9, 9),
    r("21", 9, 9),
    r("680", 9, 9),
    r("[1-9]", 8, 8),
];
/// RO (ANCOM): NSN 9; 2/3 geographic, 7 mobile, 6/8/9 non-geographic.
const RO: &[Range] = &[r("[236-9]", 9, 9)];
/// HR (HAKOM): Zagreb 01 + 7; other areas and mobiles NSN 8-9; 080 freephone 7-9.
const HR: &[Range] = &[
    r("80", 7, 9),
    r("6", 7, 9),
    r("7", 8, 8),
    r("1", 8, 8),
    r("[2-59]", 8, 9),
];
/// GE (GNCC): NSN 9; 3/4 geographic, 5 mobile, 7 VoIP, 8 freephone.
const GE: &[Range] = &[r("[3-578]", 9, 9)];
/// CY (OCECPR): NSN 8; 2 fixed, 9 mobile, 5/7/8 non-geographic.
const CY: &[Range] = &[r("[25789]", 8, 8)];
/// IS (PFS): NSN 7 (38x mobiles NSN 9).
const IS: &[Range] = &[r("38", 9, 9), r("[4-9]", 7, 7)];
/// IL (MoC): 02/03/04/08/09 + 7 (NSN 8), 05x mobile and 07x NSN 9, 1-700/1-800 NSN 10,
/// 1-212 premium NSN 8.
const IL: &[Range] = &[
    r("1212", 8, 8),
    r("1", 10, 10),
    r("[57]", 9, 9),
    r("[2-489]", 8, 8),
];
/// EG (NTRA): mobiles 010/011/012/015 NSN 10; Cairo 02 + 8 (NSN 9); Alexandria 03 + 7
/// (NSN 8); other areas NSN 8-9; 800/900 NSN 10.
const EG: &[Range] = &[
    r("1[0-2]", 10, 10),
    r("15", 8, 10),
    r("13", 9, 9),
    r("2", 9, 9),
    r("3", 8, 8),
    r("[89]00", 10, 10),
    r("[4-9]", 8, 9),
];
/// ZA (ICASA): NSN 9 (0861 up to 10).
const ZA: &[Range] = &[r("861", 9, 10), r("[1-9]", 9, 9)];
/// NZ: geographic 03/04/06/07/09 + 7 (NSN 8); mobiles 02x NSN 8-10; 0800/0508/0900 and
/// other 08xx non-geographic NSN 8-10.
const NZ: &[Range] = &[
    r("[89]0", 8, 10),
    r("508", 9, 10),
    r("70", 9, 9),
    r("8", 8, 10),
    r("2", 8, 10),
    r("[34679]", 8, 8),
];
/// KR (MSIT): mobile 010 + 8 (NSN 10), legacy 011/016-019 and 012 M2M NSN 9-10, 15xx/16xx/18xx
/// NSN 8 (015 paging 9-10);
/// Seoul 02 + 7-8 digits and areas 0[3-6][1-5] + 7-8; 030/060/080 NSN 9, 050/070 NSN 10+.
const KR: &[Range] = &[
    r("10", 10, 10),
    r("1[16-9]", 8, 10),
    r("12", 9, 10),
    r("15", 8, 10),
    r("2", 8, 9),
    r("[368]0", 9, 9),
    r("50", 10, 11),
    r("70", 10, 10),
    r("[3-6][1-5]", 9, 10),
];
/// SG (IMDA): NSN 8 (3 VoIP, 6 fixed, 8/9 mobile); 800 + 7; 1800/1900/7000 + 7.
const SG: &[Range] = &[
    r("800", 10, 10),
    r("1[89]00", 11, 11),
    r("7000", 11, 11),
    r("[3689]", 8, 8),
];
/// HK (OFCA): NSN 8 (2/3 fixed, 4-7/9 mobile, 8 personal); 800 + 6.
const HK: &[Range] = &[r("800", 9, 9), r("[2-9]", 8, 8)];
/// PK (PTA): mobile 03xx NSN 10; geographic NSN 9-10; 800/900 + 5.
const PK: &[Range] = &[
    r("3", 10, 10),
    r("[89]00", 8, 8),
    r("122", 9, 9),
    r("[2-9]", 9, 10),
];
/// MY (MCMC): mobile 01x NSN 9-10 (and 1-300/1-800 NSN 10); Kuala Lumpur 03 + 8; others NSN 8.
const MY: &[Range] = &[r("1", 9, 10), r("3", 9, 9), r("[4-9]", 8, 8)];
/// TH (NBTC): mobiles 06/08/09 (and 014x) NSN 9; fixed NSN 8; 1800/1900 + 6.
const TH: &[Range] = &[
    r("1[89]00", 10, 10),
    r("14", 9, 9),
    r("1", 8, 8),
    r("[689]", 9, 9),
    r("[2-57]", 8, 8),
];
/// VN (MIC): fixed 02xx NSN 10; mobiles 03/05/07/08/09 NSN 9; 067x VoIP; 1800/1900 + 4-6.
const VN: &[Range] = &[
    r("1[89]00", 8, 10),
    r("2", 10, 10),
    r("67", 9, 9),
    r("[35789]", 9, 9),
];
/// MA (ANRT): NSN 9; 5 fixed, 6/7 mobile, 8 non-geographic.
const MA: &[Range] = &[r("[5-8]", 9, 9)];
/// JO (TRC): mobiles 07x (and 0427) NSN 9, others NSN 8.
const JO: &[Range] = &[r("7", 9, 9), r("427", 9, 9), r("[2-689]", 8, 8)];
/// IQ (CMC): mobiles 07x NSN 10; Baghdad 1 + 7; other areas NSN 8-9.
const IQ: &[Range] = &[r("7", 10, 10), r("1", 8, 8), r("[2-6]", 8, 9)];
/// AR (ENACOM): area code + local number, NSN 10 (11 Buenos Aires, 2xx(x), 3xx(x)); mobiles
/// +54 9 + area + local (NSN 11); 800 + 7-8, 810, 60x.
const AR: &[Range] = &[
    r("9[1-3]", 11, 11),
    r("800", 10, 11),
    r("810", 10, 10),
    r("60", 10, 10),
    r("11", 10, 10),
    r("[23]", 10, 10),
];
/// CL (Subtel): NSN 9, 600 + 6-8.
const CL: &[Range] = &[r("600", 9, 11), r("[2-9]", 9, 9)];
/// CO (CRC, 2021): fixed 60x + 7 and mobile 3xx + 7, NSN 10; 1800/19xx + 7; 901 + 7.
const CO: &[Range] = &[
    r("60", 10, 10),
    r("3", 10, 10),
    r("1[89]", 11, 11),
    r("9", 10, 10),
];
/// PE (MTC/OSIPTEL): mobile 9 NSN 9; Lima 01 + 7, other areas 0xx + 6 (NSN 8).
const PE: &[Range] = &[r("9", 9, 9), r("[1-8]", 8, 8)];
/// SI (AKOS): NSN 8 (01-05/07 geographic, 03x/04x/05x/06x/07x mobile); 080 + 4-6, 089/090.
const SI: &[Range] = &[
    r("80", 6, 8),
    r("89", 5, 8),
    r("90", 6, 8),
    r("[1-8]", 8, 8),
];
/// TW (NCC): mobile 09 + 8 (NSN 9); Taipei 02 + 8, other areas NSN 8-9; 0800 + 6; 070 VoIP;
/// 0202 premium NSN 7.
const TW: &[Range] = &[
    r("9", 9, 9),
    r("80", 8, 9),
    r("70", 10, 11),
    r("202", 7, 7),
    r("[2-8]", 8, 9),
];

/// Countries usable as default country, with their calling codes and numbering plans.
pub const PLANS: &[Plan] = &[
    p("TR", "90", T0, 7, 10, TR),
    nanp("US"),
    nanp("CA"),
    p("GB", "44", T0, 9, 10, GB),
    p("DE", "49", T0, 6, 13, DE),
    p("FR", "33", T0, 9, 9, FR),
    p("NL", "31", T0, 7, 11, NL),
    p("BE", "32", T0, 8, 9, BE),
    p("ES", "34", NONE, 9, 9, ES),
    p("IT", "39", NONE, 6, 11, IT),
    p("AT", "43", T0, 6, 13, AT),
    p("CH", "41", T0, 9, 9, CH),
    p("SE", "46", T0, 7, 10, SE),
    p("NO", "47", NONE, 8, 8, NO_DK),
    p("DK", "45", NONE, 8, 8, NO_DK),
    p("PL", "48", NONE, 9, 10, PL),
    p("GR", "30", NONE, 10, 12, GR),
    p("PT", "351", NONE, 9, 9, PT),
    p("IE", "353", T0, 7, 10, IE),
    Plan {
        iso: "RU",
        cc: "7",
        trunk: &["8"],
        trunk_always: false,
        intl_extra: &[],
        idd: &["810"],
        carrier: 0,
        min: 10,
        max: 10,
        ranges: ZONE7,
        alt: None,
    },
    Plan {
        iso: "KZ",
        cc: "7",
        trunk: &["8"],
        trunk_always: false,
        intl_extra: &[],
        idd: &["810"],
        carrier: 0,
        min: 10,
        max: 10,
        ranges: ZONE7,
        alt: None,
    },
    p("AZ", "994", T0, 9, 9, &[]),
    p("AE", "971", T0, 5, 12, AE),
    p("SA", "966", T0, 9, 10, SA),
    p("IN", "91", T0, 10, 13, IN),
    p("CN", "86", T0, 9, 11, CN),
    pi("JP", "81", T0, &["010"], 9, 10, JP),
    Plan {
        iso: "BR",
        cc: "55",
        trunk: T0,
        trunk_always: true,
        intl_extra: &[],
        // "00" + carrier selection code (CSP) of the international carriers
        idd: &[
            "0012", "0014", "0015", "0021", "0022", "0023", "0025", "0031", "0041", "0043", "0055",
            "0065", "0099",
        ],
        carrier: 2,
        min: 8,
        max: 11,
        ranges: BR,
        alt: None,
    },
    Plan {
        iso: "MX",
        cc: "52",
        trunk: &["044", "045", "01"],
        trunk_always: false,
        intl_extra: &["1"],
        idd: &[],
        carrier: 0,
        min: 10,
        max: 10,
        ranges: MX,
        alt: None,
    },
    pi(
        "AU",
        "61",
        T0,
        &["0011", "0014", "0015", "0016", "0018", "0019"],
        6,
        10,
        AU,
    ),
    // more countries with well-known plans
    pi("FI", "358", T0, &["990", "994", "999"], 5, 12, FI),
    p("CZ", "420", NONE, 9, 9, CZ_SK),
    p("SK", "421", T0, 9, 9, CZ_SK),
    p("HU", "36", &["06"], 8, 9, HU),
    p("RO", "40", T0, 9, 9, RO),
    p("BG", "359", T0, 8, 9, &[]),
    p("HR", "385", T0, 7, 9, HR),
    p("UA", "380", T0, 9, 10, UA),
    p("GE", "995", T0, 9, 9, GE),
    p("CY", "357", NONE, 8, 8, CY),
    p("LU", "352", NONE, 5, 11, &[]),
    p("IS", "354", NONE, 7, 9, IS),
    pi(
        "IL",
        "972",
        T0,
        &["012", "013", "014", "015", "016", "017", "018", "019"],
        8,
        10,
        IL,
    ),
    p("EG", "20", T0, 8, 10, EG),
    p("ZA", "27", T0, 9, 10, ZA),
    pi("NZ", "64", T0, &["0161"], 8, 10, NZ),
    pi(
        "KR",
        "82",
        T0,
        &["001", "002", "005", "006", "008"],
        8,
        11,
        KR,
    ),
    pi(
        "SG",
        "65",
        NONE,
        &["001", "002", "008", "012", "013", "018", "019"],
        8,
        11,
        SG,
    ),
    pi(
        "HK",
        "852",
        NONE,
        &[
            "001", "002", "006", "007", "008", "009", "0030", "0050", "0059",
        ],
        8,
        9,
        HK,
    ),
    p("PK", "92", T0, 8, 10, PK),
    pi("ID", "62", T0, &["001", "007", "008", "009"], 8, 12, &[]),
    p("MY", "60", T0, 8, 10, MY),
    pi("TH", "66", T0, &["001", "007", "008", "009"], 8, 10, TH),
    p("PH", "63", T0, 8, 10, &[]),
    p("VN", "84", T0, 8, 10, VN),
    pi("NG", "234", T0, &["009"], 8, 10, &[]),
    pi("KE", "254", T0, &["000"], 9, 9, &[]),
    p("MA", "212", T0, 9, 9, MA),
    p("QA", "974", NONE, 8, 8, &[]),
    p("KW", "965", NONE, 8, 8, &[]),
    p("BH", "973", NONE, 8, 8, &[]),
    p("OM", "968", NONE, 8, 8, &[]),
    p("JO", "962", T0, 8, 9, JO),
    p("LB", "961", T0, 7, 8, &[]),
    p("IQ", "964", T0, 8, 10, IQ),
    p("IR", "98", T0, 10, 10, &[]),
    Plan {
        iso: "AR",
        cc: "54",
        trunk: T0,
        trunk_always: true,
        intl_extra: &[],
        idd: &[],
        carrier: 0,
        min: 10,
        max: 11,
        ranges: AR,
        alt: Some(ar_mobile_15),
    },
    p("CL", "56", NONE, 9, 11, CL),
    pi("CO", "57", NONE, &["005", "007", "009"], 10, 11, CO),
    p("PE", "51", T0, 8, 9, PE),
    p("SI", "386", T0, 5, 8, SI),
    pi(
        "TW",
        "886",
        T0,
        &["002", "005", "006", "007", "009", "019"],
        7,
        11,
        TW,
    ),
];

/// Argentine 3-digit area codes (ENACOM); other area codes outside Buenos Aires (11) have 4.
const AR_AREA3: &[&[u8; 3]] = &[
    b"220", b"221", b"223", b"230", b"236", b"237", b"249", b"260", b"261", b"263", b"264", b"266",
    b"280", b"291", b"294", b"297", b"298", b"299", b"336", b"341", b"342", b"343", b"345", b"348",
    b"351", b"353", b"358", b"362", b"364", b"370", b"376", b"379", b"380", b"381", b"383", b"385",
    b"387", b"388",
];

/// Argentine mobiles in national form: area code + "15" + local number (12 digits) →
/// "9" + area code + local number ("11 15 4xxx xxxx" → "9 11 4xxx xxxx").
fn ar_mobile_15(n: &[u8]) -> Option<Nsn> {
    if n.len() != 12 {
        return None;
    }
    let area = if n.starts_with(b"11") {
        2
    } else if !matches!(n[0], b'2' | b'3') {
        return None;
    } else if AR_AREA3.iter().any(|a| n.starts_with(&a[..])) {
        3
    } else {
        4
    };
    if &n[area..area + 2] != b"15" {
        return None;
    }
    let mut out = Nsn::new();
    out.push(b"9");
    out.push(&n[..area]);
    out.push(&n[area + 2..]);
    Some(out)
}

/// A national significant number built from parts (at most [`MAX_DIGITS`] digits).
#[derive(Clone, Copy, Debug)]
pub struct Nsn {
    buf: [u8; MAX_DIGITS],
    len: usize,
}

impl Nsn {
    fn new() -> Self {
        Nsn {
            buf: [0; MAX_DIGITS],
            len: 0,
        }
    }

    fn push(&mut self, d: &[u8]) {
        let n = d.len().min(MAX_DIGITS - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&d[..n]);
        self.len += n;
    }

    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The plan of an ISO alpha-2 code (case-insensitive).
pub fn plan_for_country(iso: &str) -> Option<&'static Plan> {
    let iso = super::fast_trim(iso).as_bytes();
    if iso.len() != 2 {
        return None;
    }
    let (a, b) = (iso[0].to_ascii_uppercase(), iso[1].to_ascii_uppercase());
    PLANS.iter().find(|p| p.iso.as_bytes() == [a, b])
}

/// The plan used for numbers with calling code `cc` (the first listed: "1" → US, "7" → RU).
pub fn plan_for_code(cc: &[u8]) -> Option<&'static Plan> {
    PLANS.iter().find(|p| p.cc.as_bytes() == cc)
}

/// Whether `code` is an assigned ITU calling code.
pub fn is_calling_code(code: u16) -> bool {
    CALLING_CODES.binary_search(&code).is_ok()
}

/// The calling code at the start of `digits` (1–3 digits), if any.
pub fn split_calling_code(digits: &[u8]) -> Option<(&[u8], &[u8])> {
    if digits.first() == Some(&b'0') {
        return None;
    }
    let mut code = 0u16;
    for (i, &c) in digits.iter().take(3).enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        code = code * 10 + (c - b'0') as u16;
        if is_calling_code(code) {
            return Some(digits.split_at(i + 1));
        }
    }
    None
}

const MAX_DIGITS: usize = 20;

/// The digits of a raw phone number, and whether it was written with a leading '+'.
struct Digits {
    buf: [u8; MAX_DIGITS],
    len: usize,
    plus: bool,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Map ASCII, fullwidth, Arabic-Indic, extended Arabic-Indic (Persian) and Devanagari digits.
#[inline]
fn digit_value(c: char) -> Option<u8> {
    let v = c as u32;
    let base = match v {
        0x30..=0x39 => 0x30,
        0x660..=0x669 => 0x660,
        0x6F0..=0x6F9 => 0x6F0,
        0x966..=0x96F => 0x966,
        0xFF10..=0xFF19 => 0xFF10,
        _ => return None,
    };
    Some((v - base) as u8)
}

/// Separators allowed between digits.
#[inline]
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '-' | '.' | '(' | ')' | '/' | '[' | ']' | ';' | ',' | '\u{A0}' | '\u{2010}'
            ..='\u{2015}'
                | '\u{2212}'
                | '\u{202F}'
                | '\u{2007}'
                | '\u{2009}'
                | '\u{200B}'
                | '\u{FEFF}'
                | '\u{3000}'
                | '\u{FF08}'
                | '\u{FF09}'
                | '\u{FF0D}'
                | '\u{FF0E}'
                | '\u{FF0F}'
    )
}

/// Extension markers (lowercase words) after which the rest is dropped.
pub const EXT_WORDS: [&str; 8] = [
    "x",
    "ext",
    "extn",
    "extension",
    "dahili",
    "dah",
    "durchwahl",
    "poste",
];
static EXT_SET: Words<8> = Words::new(EXT_WORDS);

/// Extension markers outside ASCII (lowercase): Russian "доб." (добавочный).
pub const EXT_WORDS_NON_ASCII: [&str; 2] = ["доб", "добавочный"];

/// Whether `w` is an extension marker written outside ASCII, ignoring case.
fn is_non_ascii_ext_word(w: &str) -> bool {
    EXT_WORDS_NON_ASCII.iter().any(|e| {
        let mut a = w.chars().flat_map(char::to_lowercase);
        let mut b = e.chars();
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                (x, y) if x == y => {}
                _ => return false,
            }
        }
    })
}

/// Scan the raw text: digits, separators, a leading '+', an extension marker and what follows it.
fn scan(raw: &str) -> Result<Digits, &'static str> {
    let mut v = super::fast_trim(raw);
    if let Some(p) = v.get(..4) {
        if p.eq_ignore_ascii_case("tel:") {
            v = v[4..].trim_start();
        }
    }
    let mut d = Digits {
        buf: [0; MAX_DIGITS],
        len: 0,
        plus: false,
    };
    let mut chars = v.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(x) = digit_value(c) {
            if d.len == MAX_DIGITS {
                return Err(reason::INVALID_FORMAT);
            }
            d.buf[d.len] = b'0' + x;
            d.len += 1;
        } else if c == '+' || c == '\u{FF0B}' {
            if d.len > 0 || d.plus {
                return Err(reason::INVALID_FORMAT);
            }
            d.plus = true;
        } else if is_separator(c) {
        } else if c == '#' || c.is_alphabetic() {
            // extension marker: "#12", "x12", "ext. 12", "dahili 12", ";ext=12", "доб. 12"
            if d.len == 0 {
                return Err(reason::INVALID_FORMAT);
            }
            if c.is_alphabetic() {
                let word_end = v[i..]
                    .find(|ch: char| !ch.is_alphabetic())
                    .map_or(v.len(), |e| i + e);
                let word = &v[i..word_end];
                let mut buf = [0u8; 16];
                let known = if word.is_ascii() {
                    fold_small(word, &mut buf).is_some_and(|w| EXT_SET.contains(w))
                } else {
                    is_non_ascii_ext_word(word)
                };
                if !known {
                    return Err(reason::INVALID_FORMAT);
                }
                while chars.peek().is_some_and(|&(j, _)| j < word_end) {
                    chars.next();
                }
            }
            // the rest: digits and separators (and '.', ':', '=', '#') only
            let mut ext_digits = 0;
            for (_, r) in chars {
                if digit_value(r).is_some() {
                    ext_digits += 1;
                } else if !(is_separator(r) || matches!(r, ':' | '=' | '#')) {
                    return Err(reason::INVALID_FORMAT);
                }
            }
            if ext_digits == 0 {
                return Err(reason::INVALID_FORMAT);
            }
            break;
        } else {
            return Err(reason::INVALID_FORMAT);
        }
    }
    if d.len == 0 {
        return Err(reason::INVALID_FORMAT);
    }
    Ok(d)
}

fn in_range(p: &Plan, n: usize) -> bool {
    (p.min as usize..=p.max as usize).contains(&n)
}

/// Whether `nsn` starts with `pattern` (digits and `[...]` digit classes with `a-b` spans).
fn prefix_matches(pattern: &[u8], nsn: &[u8]) -> bool {
    let mut i = 0;
    let mut k = 0;
    while i < pattern.len() {
        let Some(&c) = nsn.get(k) else {
            return false;
        };
        if pattern[i] == b'[' {
            i += 1;
            let mut hit = false;
            while i < pattern.len() && pattern[i] != b']' {
                let lo = pattern[i];
                let mut hi = lo;
                if pattern.get(i + 1) == Some(&b'-') && i + 2 < pattern.len() {
                    hi = pattern[i + 2];
                    i += 2;
                }
                hit |= lo <= c && c <= hi;
                i += 1;
            }
            if !hit {
                return false;
            }
        } else if pattern[i] != c {
            return false;
        }
        i += 1;
        k += 1;
    }
    true
}

/// NANP (+1): NPA-NXX-XXXX. Area code: first digit 2-9, middle digit not 9 (reserved for
/// expansion), not N11 (service codes), not 37X or 96X (reserved); central office code: first
/// digit 2-9.
fn nanp_ok(nsn: &[u8]) -> bool {
    let (a, b, c) = (nsn[0], nsn[1], nsn[2]);
    a >= b'2'
        && b != b'9'
        && !(b == b'1' && c == b'1')
        && !(a == b'3' && b == b'7')
        && !(a == b'9' && b == b'6')
        && nsn[3] >= b'2'
}

/// Validate a national significant number against a plan.
fn nsn_ok(p: &Plan, nsn: &[u8]) -> bool {
    let n = nsn.len();
    if !in_range(p, n) {
        return false;
    }
    if p.trunk_always && p.trunk.iter().any(|t| nsn.starts_with(t.as_bytes())) {
        return false;
    }
    if p.cc == "1" {
        return nanp_ok(nsn);
    }
    if p.ranges.is_empty() {
        return true;
    }
    for r in p.ranges {
        if prefix_matches(r.prefix.as_bytes(), nsn) {
            return r.lens & (1 << n) != 0;
        }
    }
    false
}

/// `n` as a valid NSN of `p`, as written or in the plan's other written form ([`Plan::alt`]).
fn valid_nsn(p: &Plan, n: &[u8]) -> Option<Nsn> {
    if nsn_ok(p, n) {
        let mut v = Nsn::new();
        v.push(n);
        return Some(v);
    }
    p.alt.and_then(|f| f(n)).filter(|v| nsn_ok(p, v.as_slice()))
}

fn e164(cc: &[u8], nsn: &[u8]) -> Result<String, &'static str> {
    if is_placeholder_digits(nsn) {
        return Err(reason::PLACEHOLDER);
    }
    if !(8..=15).contains(&(cc.len() + nsn.len())) {
        return Err(reason::INVALID_FORMAT);
    }
    let mut buf = [b'+'; 1 + 3 + MAX_DIGITS];
    let n = 1 + cc.len() + nsn.len();
    buf[1..1 + cc.len()].copy_from_slice(cc);
    buf[1 + cc.len()..n].copy_from_slice(nsn);
    Ok(std::str::from_utf8(&buf[..n])
        .unwrap_or_default()
        .to_string())
}

/// All the same digit ("0000000000") or an ascending / descending run ("1234567890").
pub fn is_placeholder_digits(d: &[u8]) -> bool {
    all_same(d, 5) || is_digit_run(d, 6)
}

/// NSN lengths of global-service calling codes with a fixed length (ITU-T E.169: UIFN 800,
/// UISCN 808, UIPRN 979; Inmarsat 870).
const GLOBAL_SERVICE_LENGTHS: &[(&str, usize)] = &[("800", 8), ("808", 8), ("870", 9), ("979", 9)];

/// A number in international form (after "+", "00" or another international prefix).
///
/// `strict` (a number written without any international prefix, read as foreign): the national
/// significant number exactly as written (no trunk prefix after the code).
fn international(digits: &[u8], strict: bool) -> Result<String, &'static str> {
    let Some((cc, rest)) = split_calling_code(digits) else {
        return Err(reason::UNKNOWN_COUNTRY);
    };
    if let Some(p) = plan_for_code(cc) {
        if let Some(n) = valid_nsn(p, rest) {
            return e164(cc, n.as_slice());
        }
        let mut nsn = rest;
        if !strict {
            // "+44 (0)20 ...", "+90 0532 ...", "+7 8 916 ...": trunk prefix after the code
            for t in p.trunk {
                if let Some(r) = rest.strip_prefix(t.as_bytes()) {
                    if p.trunk_always {
                        nsn = r;
                    }
                    if let Some(n) = valid_nsn(p, r) {
                        return e164(cc, n.as_slice());
                    }
                    break;
                }
            }
        }
        // "+52 1 55 ...": a prefix dropped from the plan
        for x in p.intl_extra {
            if let Some(r) = nsn.strip_prefix(x.as_bytes()) {
                if let Some(n) = valid_nsn(p, r) {
                    return e164(cc, n.as_slice());
                }
            }
        }
        if is_placeholder_digits(nsn) {
            return Err(reason::PLACEHOLDER);
        }
        return Err(reason::INVALID_FORMAT);
    }
    if !(8..=15).contains(&digits.len()) {
        return Err(reason::INVALID_FORMAT);
    }
    if let Some(&(_, len)) = GLOBAL_SERVICE_LENGTHS
        .iter()
        .find(|(c, _)| c.as_bytes() == cc)
    {
        if rest.len() != len {
            return Err(reason::INVALID_FORMAT);
        }
    }
    e164(cc, rest)
}

/// A number written with the default country's own international prefixes ([`Plan::idd`]).
/// `None`: not written so; `Some(Err)`: written so, but invalid.
fn own_international(p: &Plan, digits: &[u8]) -> Option<Result<String, &'static str>> {
    let mut res = None;
    for idd in p.idd {
        if let Some(rest) = digits.strip_prefix(idd.as_bytes()) {
            if rest.len() >= 7 {
                match international(rest, false) {
                    Ok(v) => return Some(Ok(v)),
                    Err(e) => {
                        res.get_or_insert(Err(e));
                    }
                }
            }
        }
    }
    res
}

/// NSN lengths of a plan as a bit set (bit n: length n).
fn plan_lengths(p: &Plan) -> u32 {
    if p.ranges.is_empty() {
        lens(p.min, p.max)
    } else {
        p.ranges.iter().fold(0, |m, r| m | r.lens)
    }
}

/// Whether `digits` have the length of a national number of `p`, with or without a trunk
/// prefix.
fn national_length(p: &Plan, digits: &[u8]) -> bool {
    let set = plan_lengths(p);
    let has = |n: usize| n < 32 && set & (1 << n) != 0;
    has(digits.len())
        || p.trunk
            .iter()
            .any(|t| digits.starts_with(t.as_bytes()) && has(digits.len() - t.len()))
}

/// A number written in national form (`digits` has no international prefix).
fn national(p: &Plan, digits: &[u8]) -> Result<String, &'static str> {
    let cc = p.cc.as_bytes();
    // national with trunk prefix
    for t in p.trunk {
        if let Some(rest) = digits.strip_prefix(t.as_bytes()) {
            if p.trunk_always || !nsn_ok(p, digits) {
                if is_placeholder_digits(rest) {
                    return Err(reason::PLACEHOLDER);
                }
                if let Some(n) = valid_nsn(p, rest) {
                    return e164(cc, n.as_slice());
                }
                // trunk prefix + carrier selection code + NSN ("0 21 11 9xxxx-xxxx")
                let c = p.carrier as usize;
                if c > 0 && rest.len() > c {
                    if let Some(n) = valid_nsn(p, &rest[c..]) {
                        return e164(cc, n.as_slice());
                    }
                }
                if p.trunk_always {
                    return Err(reason::INVALID_FORMAT);
                }
            }
        }
    }
    // the default country's code without '+': preferred when the plan has a trunk prefix (its
    // national numbers are written with it) or when the whole is no national number
    if let Some(rest) = digits.strip_prefix(cc) {
        let rest = match p.trunk.first() {
            Some(t) if p.trunk_always => rest.strip_prefix(t.as_bytes()).unwrap_or(rest),
            _ => rest,
        };
        if let Some(n) = valid_nsn(p, rest) {
            if !p.trunk.is_empty() || valid_nsn(p, digits).is_none() {
                return e164(cc, n.as_slice());
            }
        }
    }
    // national without trunk prefix
    if let Some(n) = valid_nsn(p, digits) {
        return e164(cc, n.as_slice());
    }
    // an international number written without '+' or 00 ("447955997029", "34618831013"):
    // only when it cannot be a national number of the default country by its length (an
    // unassigned national number stays a rejected national number), taken as written
    if digits.len() >= 10 && !national_length(p, digits) {
        if let Ok(v) = international(digits, true) {
            return Ok(v);
        }
    }
    Err(reason::INVALID_FORMAT)
}

/// Normalise a phone number to E.164.
///
/// Accepted: punctuation, spaces, parentheses, dots and dashes; a leading '+' (also "(+90)");
/// the international prefix "00" and the default country's own ("011" NANP, "810" RU/KZ,
/// "0011" AU, "010" JP, "001" SG/HK/KR, "002" TW, "00" + carrier code BR, ...); national
/// numbers with a trunk prefix ("0532 123 45 67" with default TR, "8 916 ..." with RU, with a
/// carrier code "0 21 11 9..." in BR); NANP national numbers with or without the leading 1;
/// national numbers without their trunk prefix; Argentine mobiles written with "15"; a number
/// that starts with the default country's calling code without '+', when the plan says so
/// ("905321234567"); a foreign number without '+' whose length is no national number's and
/// that fits the foreign plan ("447911123456"); "+44 (0)20 ..." (trunk after the code). Extensions ("ext 12",
/// "x12", "#12", "dahili 12", "доб. 12") are dropped. Italian numbers keep their leading 0.
///
/// Numbers of a country with a plan in [`PLANS`] must lie in an assigned range with a length
/// the plan allows for that range ([`Plan::ranges`]; NANP: area code and exchange rules).
///
/// `default_country` is an ISO alpha-2 code, case-insensitive.
///
/// Errors: `invalid_format` (letters, wrong length, unassigned range, no digits),
/// `unknown_country` (no assigned calling code after '+'/"00", or a national number while the
/// default country has no known numbering plan), `placeholder` (one repeated digit,
/// "1234567890"-style runs).
pub fn to_e164(raw: &str, default_country: &str) -> Result<String, &'static str> {
    let d = scan(raw)?;
    let digits = d.as_slice();
    if is_placeholder_digits(digits) {
        return Err(reason::PLACEHOLDER);
    }
    if d.plus {
        return international(digits, false);
    }
    let plan = plan_for_country(default_country);
    let own = plan.and_then(|p| own_international(p, digits));
    if let Some(Ok(v)) = own {
        return Ok(v);
    }
    if let Some(rest) = digits.strip_prefix(b"00") {
        return match (international(rest, false), own) {
            (Err(_), Some(Err(e))) => Err(e),
            (r, _) => r,
        };
    }
    let Some(p) = plan else {
        return Err(reason::UNKNOWN_COUNTRY);
    };
    match (national(p, digits), own) {
        (Err(_), Some(Err(e))) => Err(e),
        (r, _) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_without_plus() {
        ok("447955997029", "TR", "+447955997029");
        ok("34618831013", "TR", "+34618831013");
        ok("306959892497", "TR", "+306959892497");
        ok("971500718553", "TR", "+971500718553");
        // a national number stays national
        ok("5321234567", "TR", "+905321234567");
        ok("905321234567", "TR", "+905321234567");
    }

    #[track_caller]
    fn ok(raw: &str, country: &str, want: &str) {
        assert_eq!(
            to_e164(raw, country),
            Ok(want.to_string()),
            "{raw:?} default {country}"
        );
    }

    #[track_caller]
    fn err(raw: &str, country: &str, want: &str) {
        assert_eq!(
            to_e164(raw, country),
            Err(want),
            "{raw:?} default {country}"
        );
    }

    /// Class 1: lengths by number type (leading digits), not one range per country.
    #[test]
    fn lengths_by_number_type() {
        // GB: 07 mobiles NSN 10, 02 NSN 10, 01 NSN 9 or 10
        ok("07400 123456", "GB", "+447400123456");
        err("07400 12345", "GB", "invalid_format");
        err("020 3000 123", "GB", "invalid_format");
        ok("016977 3456", "GB", "+44169773456");
        ok("0808 157 0192", "GB", "+448081570192");
        // DE: 015x NSN 11, 016x/017x NSN 10 or 11
        ok("0152 28817386", "DE", "+4915228817386");
        err("0152 2881738", "DE", "invalid_format");
        ok("0160 9457721", "DE", "+491609457721");
        ok("0176 20345817", "DE", "+4917620345817");
        err("0176 203458171", "DE", "invalid_format");
        // BE: 04[5-9] mobiles NSN 9, everything else NSN 8
        ok("0487 61 20 93", "BE", "+32487612093");
        err("0487 61 20 9", "BE", "invalid_format");
        ok("010 47 21 11", "BE", "+3210472111");
        err("03 281 64 903", "BE", "invalid_format");
        // AE / IL: fixed NSN 8, mobiles NSN 9
        ok("02 612 3480", "AE", "+97126123480");
        err("02 612 34801", "AE", "invalid_format");
        ok("056 712 9034", "AE", "+971567129034");
        ok("04-812-3950", "IL", "+97248123950");
        err("04-812-39501", "IL", "invalid_format");
        ok("054-660-2719", "IL", "+972546602719");
        // JP: geographic NSN 9, 0x0 mobiles NSN 10
        ok("045-671-2121", "JP", "+81456712121");
        err("070-5513-281", "JP", "invalid_format");
        ok("070-5513-2810", "JP", "+817055132810");
        // SE, KR, EG, HU, NZ
        err("076-241 88 3", "SE", "invalid_format");
        ok("0431-44 51 90", "SE", "+46431445190");
        ok("02-734-5120", "KR", "+8227345120");
        err("011 5932 771", "EG", "invalid_format");
        ok("011 5932 7714", "EG", "+201159327714");
        ok("06 20 532 7190", "HU", "+36205327190");
        err("06 20 532 719", "HU", "invalid_format");
        ok("022 318 7744", "NZ", "+64223187744");
        err("03 366 07011", "NZ", "invalid_format");
    }

    /// Class 2: ranges the plans leave unassigned or reserve.
    #[test]
    fn unassigned_ranges() {
        // NANP: NPA N9X reserved, N11 service codes, 37X and 96X reserved; NXX starts 2-9
        ok("(305) 358-5100", "US", "+13053585100");
        err("(596) 358-5100", "US", "invalid_format");
        err("(211) 358-5100", "US", "invalid_format");
        err("(375) 358-5100", "US", "invalid_format");
        err("(965) 358-5100", "CA", "invalid_format");
        err("(305) 058-5100", "US", "invalid_format");
        err("+1 493 358 5100", "TR", "invalid_format");
        // GB 04/06, TR 6/7, ES 1-4, IT 2/7, CH 01
        err("0611 496 0732", "GB", "invalid_format");
        err("+44 4411 496073", "TR", "invalid_format");
        err("0612 345 67 80", "TR", "invalid_format");
        err("0732 345 67 80", "TR", "invalid_format");
        err("312 345 680", "ES", "invalid_format");
        err("+39 7 3151 2880", "TR", "invalid_format");
        // BR: DDD 23/29/30 unassigned; 8-digit numbers starting 6, 8 or 9 after the DDD
        ok("(31) 3215-6640", "BR", "+553132156640");
        err("(23) 3215-6640", "BR", "invalid_format");
        err("(29) 3215-6640", "BR", "invalid_format");
        err("(31) 9215-6640", "BR", "invalid_format");
        // CN: mobiles 13-19; RU zone 7: 0, 1, 2, 5, 88x, 89x
        ok("159 2718 4406", "CN", "+8615927184406");
        err("110 2718 4406", "CN", "invalid_format");
        ok("8 863 240 51 17", "RU", "+78632405117");
        err("8 883 240 51 17", "RU", "invalid_format");
        err("+7 512 240 5117", "TR", "invalid_format");
        err("+7 112 240 5117", "TR", "invalid_format");
        // DE 010xx carrier selection, EG 013/014 mobiles
        err("01033 2639 400", "DE", "invalid_format");
        err("016 2475 9931", "EG", "invalid_format");
    }

    /// Class 3: each plan's own international prefixes, tried before "00".
    #[test]
    fn own_international_prefixes() {
        ok("0011 49 89 2339 6000", "AU", "+498923396000");
        ok("0015 33 1 44 55 66 77", "AU", "+33144556677");
        ok("010 33 4 72 10 30 30", "JP", "+33472103030");
        ok("001 61 2 9876 5430", "SG", "+61298765430");
        ok("008 49 30 9018 2200", "SG", "+493090182200");
        ok("001 81 3 3211 4781", "HK", "+81332114781");
        ok("002 86 139 2718 4406", "KR", "+8613927184406");
        // TW 002 + 1: not Morocco (+212)
        ok("002 1 305 358 5100", "TW", "+13053585100");
        ok("002 81 90 3312 5840", "TW", "+819033125840");
        ok("014 44 161 496 0732", "IL", "+441614960732");
        // BR: 00 + carrier code; plain 00 when the carrier reading fails
        ok("0015 1 305 358 5100", "BR", "+13053585100");
        ok("0041 49 30 9018 2200", "BR", "+493090182200");
        ok("0041 44 201 31 11", "BR", "+41442013111");
        ok("0049 30 9018 2200", "BR", "+493090182200");
        // the prefix of another country is no international prefix here
        err("0011 49 89 2339 6000", "DE", "invalid_format");
        ok("001 305 358 5100", "TR", "+13053585100");
    }

    /// Class 4: national forms special to a plan.
    #[test]
    fn special_national_forms() {
        // AR: mobiles written area code + 15 + local number → +54 9 + area code + local number
        ok("0221 15 456 7890", "AR", "+5492214567890");
        ok("02966 15 45 6789", "AR", "+5492966456789");
        ok("011 15 2937-8140", "AR", "+5491129378140");
        ok("11 15 2937 8140", "AR", "+5491129378140");
        ok("+54 11 15 2937 8140", "TR", "+5491129378140");
        ok("0221 456 7890", "AR", "+542214567890");
        err("0221 16 456 7890", "AR", "invalid_format");
        // BR: trunk 0 + carrier selection code + DDD + number
        ok("0 15 21 3456-7820", "BR", "+552134567820");
        ok("015 21 99876 5430", "BR", "+5521998765430");
        ok("0 41 31 3215 6640", "BR", "+553132156640");
        err("0 15 23 3456-7820", "BR", "invalid_format");
        // NL: 0800 / 090x + 4 or 7 digits
        ok("0800 2424", "NL", "+318002424");
        ok("0900 8844", "NL", "+319008844");
        ok("0800 022 1133", "NL", "+318000221133");
        err("0800 24245", "NL", "invalid_format");
        // MX trunk prefixes and the mobile 1 after +52 still dropped
        ok("045 33 3615 2200", "MX", "+523336152200");
    }

    /// Class 5: plans added for Slovenia and Taiwan.
    #[test]
    fn slovenia_and_taiwan() {
        ok("02 234 56 78", "SI", "+38622345678");
        ok("031 627 415", "SI", "+38631627415");
        ok("+386 40 627 415", "TR", "+38640627415");
        err("031 627 41", "SI", "invalid_format");
        err("031 627 4150", "SI", "invalid_format");
        ok("04 2325 1881", "TW", "+886423251881");
        ok("0933 127 456", "TW", "+886933127456");
        ok("+886 933 127 456", "TR", "+886933127456");
        err("0933 127 45", "TW", "invalid_format");
        err("01 2325 1881", "TW", "invalid_format");
        assert_eq!(plan_for_country("si").map(|p| p.cc), Some("386"));
        assert_eq!(plan_for_country("TW").map(|p| p.cc), Some("886"));
    }

    /// Class 6: digits that fit the default country's plan stay national; digits of a national
    /// number's length are never read as a foreign number written without '+'.
    #[test]
    fn national_reading_wins() {
        ok("800 304 1290", "SA", "+9668003041290");
        ok("800 304 1290", "TR", "+908003041290");
        err("(21) 99876-54301", "BR", "invalid_format");
        err("512 834 2271", "PL", "invalid_format");
        err("(396) 234-5678", "CA", "invalid_format");
        err("110 5358 5100", "CN", "invalid_format");
        // too long for a national number: a foreign number without '+'
        ok("447400123456", "TR", "+447400123456");
        ok("4915228817386", "FR", "+4915228817386");
        ok("998712334455", "TR", "+998712334455");
        // a foreign number written without '+' keeps no trunk prefix after its code
        err("1198765432109", "BR", "invalid_format");
    }

    #[test]
    fn russian_extension_word() {
        ok("8 863 240 51 17 доб. 305", "RU", "+78632405117");
        ok("8 863 240 51 17 ДОБ 305", "RU", "+78632405117");
        err("8 863 240 51 17 тел 305", "RU", "invalid_format");
    }

    #[test]
    fn prefix_patterns() {
        assert!(prefix_matches(b"7[1-57-9]", b"73"));
        assert!(prefix_matches(b"7[1-57-9]", b"78123"));
        assert!(!prefix_matches(b"7[1-57-9]", b"76"));
        assert!(!prefix_matches(b"800", b"80"));
        assert!(prefix_matches(b"[2-4]", b"3"));
        assert!(prefix_matches(b"", b"3"));
    }

    #[test]
    fn calling_code_table_is_sorted_and_prefix_free() {
        assert!(CALLING_CODES.windows(2).all(|w| w[0] < w[1]));
        for &a in CALLING_CODES {
            for &b in CALLING_CODES {
                if a != b {
                    let (sa, sb) = (a.to_string(), b.to_string());
                    assert!(!sb.starts_with(&sa), "{sa} is a prefix of {sb}");
                }
            }
        }
        for pl in PLANS {
            assert!(is_calling_code(pl.cc.parse().unwrap()), "{}", pl.iso);
            assert!(
                pl.min <= pl.max && pl.max as usize + pl.cc.len() <= 15,
                "{}",
                pl.iso
            );
            assert!(pl.min as usize + pl.cc.len() >= 8, "{}", pl.iso);
        }
        // every range is well formed and the plan's length bounds are its ranges' bounds
        for pl in PLANS.iter().filter(|pl| !pl.ranges.is_empty()) {
            let all = plan_lengths(pl);
            assert_eq!(all.trailing_zeros(), pl.min as u32, "{} min", pl.iso);
            assert_eq!(31 - all.leading_zeros(), pl.max as u32, "{} max", pl.iso);
            for r in pl.ranges {
                let b = r.prefix.as_bytes();
                assert!(r.lens != 0 && !b.is_empty(), "{} {}", pl.iso, r.prefix);
                let mut depth = 0;
                for &c in b {
                    match c {
                        b'[' => depth += 1,
                        b']' => depth -= 1,
                        b'-' | b'0'..=b'9' => {}
                        _ => panic!("{} {}", pl.iso, r.prefix),
                    }
                    assert!((0..=1).contains(&depth), "{} {}", pl.iso, r.prefix);
                }
                assert_eq!(depth, 0, "{} {}", pl.iso, r.prefix);
            }
        }
        assert_eq!(
            split_calling_code(b"905321234567"),
            Some((&b"90"[..], &b"5321234567"[..]))
        );
        assert_eq!(
            split_calling_code(b"12125550143"),
            Some((&b"1"[..], &b"2125550143"[..]))
        );
        assert_eq!(
            split_calling_code(b"35312345678"),
            Some((&b"353"[..], &b"12345678"[..]))
        );
        assert_eq!(split_calling_code(b"0531"), None);
        assert_eq!(split_calling_code(b"2812"), None);
        assert_eq!(split_calling_code(b"99912"), None);
        assert_eq!(plan_for_country("tr").map(|p| p.cc), Some("90"));
        assert_eq!(plan_for_code(b"1").map(|p| p.iso), Some("US"));
        assert_eq!(plan_for_code(b"7").map(|p| p.iso), Some("RU"));
        assert_eq!(plan_for_code(b"386").map(|p| p.iso), Some("SI"));
        assert_eq!(plan_for_code(b"998").map(|p| p.iso), None);
    }

    #[test]
    fn turkey() {
        ok("0532 123 45 67", "TR", "+905321234567");
        ok("0 (532) 123-45-67", "TR", "+905321234567");
        ok("0532.123.45.67", "TR", "+905321234567");
        ok("532 123 45 67", "TR", "+905321234567");
        ok("5321234567", "TR", "+905321234567");
        ok("905321234567", "TR", "+905321234567");
        ok("90 532 123 45 67", "TR", "+905321234567");
        ok("+90 532 123 45 67", "TR", "+905321234567");
        ok("(+90) 532 123 45 67", "TR", "+905321234567");
        ok("+90 (0532) 123 45 67", "TR", "+905321234567");
        ok("0090 532 123 45 67", "TR", "+905321234567");
        ok("(0212) 555 12 34", "TR", "+902125551234");
        ok("0532 123 45 67 dahili 12", "TR", "+905321234567");
        ok("tel:+90-532-123-45-67", "TR", "+905321234567");
        ok("Tel: 0532 123 45 67", "TR", "+905321234567");
    }

    #[test]
    fn nanp() {
        ok("(212) 555-0143", "US", "+12125550143");
        ok("212-555-0143", "US", "+12125550143");
        ok("212.555.0143", "US", "+12125550143");
        ok("1-212-555-0143", "US", "+12125550143");
        ok("1 (212) 555-0143", "US", "+12125550143");
        ok("+1 212 555 0143", "US", "+12125550143");
        ok("+1 (212) 555-0143", "TR", "+12125550143");
        ok("001 212 555 0143", "TR", "+12125550143");
        ok("011 44 20 7946 0018", "US", "+442079460018");
        ok("(416) 555-0199", "CA", "+14165550199");
        ok("(212) 555-0143 ext 12", "US", "+12125550143");
        ok("(212) 555-0143 ext. 12", "US", "+12125550143");
        ok("212-555-0143 x12", "US", "+12125550143");
        ok("212-555-0143 X 12", "US", "+12125550143");
        ok("212 555 0143 #12", "US", "+12125550143");
        ok("tel:+1-212-555-0143;ext=12", "US", "+12125550143");
        err("(112) 555-0143", "US", "invalid_format");
        err("(212) 155-0143", "US", "invalid_format");
        err("212-555-014", "US", "invalid_format");
        err("+1 212 555 01434", "US", "invalid_format");
    }

    #[test]
    fn europe() {
        // GB
        ok("020 7946 0018", "GB", "+442079460018");
        ok("07700 900123", "GB", "+447700900123");
        ok("+44 20 7946 0018", "GB", "+442079460018");
        ok("+44 (0)20 7946 0018", "TR", "+442079460018");
        ok("0044 20 7946 0018", "TR", "+442079460018");
        ok("442079460018", "GB", "+442079460018");
        // DE
        ok("030 47110815", "DE", "+493047110815");
        ok("0151 2345 6789", "DE", "+4915123456789");
        ok("+49 (0)30 47110815", "DE", "+493047110815");
        ok("+49 30 47110815", "TR", "+493047110815");
        // FR
        ok("01 42 68 53 00", "FR", "+33142685300");
        ok("06 12 34 56 78", "FR", "+33612345678");
        ok("+33 6 12 34 56 78", "FR", "+33612345678");
        ok("0033 1 42 68 53 00", "DE", "+33142685300");
        // NL
        ok("020 555 1234", "NL", "+31205551234");
        ok("06-12345678", "NL", "+31612345678");
        ok("+31 6 12345678", "TR", "+31612345678");
        // BE
        ok("02 555 12 34", "BE", "+3225551234");
        ok("0470 12 34 56", "BE", "+32470123456");
        ok("+32 470 12 34 56", "TR", "+32470123456");
        // ES (no trunk prefix)
        ok("912 345 678", "ES", "+34912345678");
        ok("+34 612 34 56 78", "ES", "+34612345678");
        ok("34612345678", "ES", "+34612345678");
        // IT keeps the leading 0 of landlines
        ok("06 1234 5678", "IT", "+390612345678");
        ok("+39 06 1234 5678", "TR", "+390612345678");
        ok("0039 02 1234 5678", "TR", "+390212345678");
        ok("312 345 6789", "IT", "+393123456789");
        ok("+39 312 345 6789", "IT", "+393123456789");
        // AT, CH
        ok("0664 1234567", "AT", "+436641234567");
        ok("+43 1 58800123", "TR", "+43158800123");
        ok("044 668 18 00", "CH", "+41446681800");
        ok("+41 44 668 18 00", "TR", "+41446681800");
        // Nordics
        ok("08-123 456 78", "SE", "+46812345678");
        ok("070-123 45 67", "SE", "+46701234567");
        ok("+46 70 123 45 67", "TR", "+46701234567");
        ok("22 12 34 56", "NO", "+4722123456");
        ok("+47 412 34 567", "TR", "+4741234567");
        ok("32 12 34 56", "DK", "+4532123456");
        ok("+45 32 12 34 56", "TR", "+4532123456");
        // PL, GR, PT, IE
        ok("22 123 45 67", "PL", "+48221234567");
        ok("+48 601 234 567", "TR", "+48601234567");
        ok("210 123 4567", "GR", "+302101234567");
        ok("+30 694 123 4567", "TR", "+306941234567");
        ok("21 123 4567", "PT", "+351211234567");
        ok("+351 912 345 678", "TR", "+351912345678");
        ok("01 671 2345", "IE", "+35316712345");
        ok("087 123 4567", "IE", "+353871234567");
        ok("+353 87 123 4567", "TR", "+353871234567");
    }

    #[test]
    fn russia_and_asia() {
        ok("8 (916) 123-45-67", "RU", "+79161234567");
        ok("+7 916 123 45 67", "RU", "+79161234567");
        ok("+7 916 123 45 67", "TR", "+79161234567");
        ok("79161234567", "RU", "+79161234567");
        ok("9161234567", "RU", "+79161234567");
        ok("8 812 123 45 67", "RU", "+78121234567");
        ok("8 10 44 20 7946 0018", "RU", "+442079460018");
        ok("050 123 45 67", "AZ", "+994501234567");
        ok("+994 50 123 45 67", "TR", "+994501234567");
        ok("050 123 4567", "AE", "+971501234567");
        ok("04 123 4567", "AE", "+97141234567");
        ok("+971 50 123 4567", "TR", "+971501234567");
        ok("050 123 4567", "SA", "+966501234567");
        ok("011 234 5678", "SA", "+966112345678");
        ok("+966 50 123 4567", "TR", "+966501234567");
        ok("098456 12370", "IN", "+919845612370");
        ok("+91 98456 12370", "TR", "+919845612370");
        ok("010 6552 9988", "CN", "+861065529988");
        ok("138 0013 8000", "CN", "+8613800138000");
        ok("+86 138 0013 8000", "TR", "+8613800138000");
        ok("03-1234-5678", "JP", "+81312345678");
        ok("090-1234-5678", "JP", "+819012345678");
        ok("+81 90 1234 5678", "TR", "+819012345678");
        ok("(02) 9876 5432", "AU", "+61298765432");
        ok("0412 345 678", "AU", "+61412345678");
        ok("+61 412 345 678", "TR", "+61412345678");
    }

    #[test]
    fn americas() {
        ok("(11) 91234-5678", "BR", "+5511912345678");
        ok("011 91234 5678", "BR", "+5511912345678");
        ok("+55 11 91234-5678", "TR", "+5511912345678");
        ok("55 1234 5678", "MX", "+525512345678");
        ok("044 55 1234 5678", "MX", "+525512345678");
        ok("01 55 1234 5678", "MX", "+525512345678");
        ok("+52 55 1234 5678", "TR", "+525512345678");
        ok("+52 1 55 1234 5678", "TR", "+525512345678");
    }

    #[test]
    fn other_calling_codes_accepted() {
        ok("+386 1 426 55 10", "TR", "+38614265510"); // SI
        ok("+998 90 123 45 67", "TR", "+998901234567");
        ok("+1 684 733 1234", "TR", "+16847331234"); // American Samoa (NANP)
        ok("+882 1634 5678", "TR", "+88216345678");
        err("+386 12", "TR", "invalid_format");
        err("+386 1234 5678 9012 3", "TR", "invalid_format");
    }

    #[test]
    fn unknown_country() {
        err("+999 123 4567", "TR", "unknown_country");
        err("+28 1234 5678", "TR", "unknown_country");
        err("+0 532 123 45 67", "TR", "unknown_country");
        err("00 999 1234567", "TR", "unknown_country");
        err("0532 123 45 67", "XX", "unknown_country");
        err("0532 123 45 67", "", "unknown_country");
        ok("+90 532 123 45 67", "XX", "+905321234567");
        ok("0090 532 123 45 67", "", "+905321234567");
        ok("0532 123 45 67", " tr ", "+905321234567");
    }

    #[test]
    fn placeholders() {
        for v in [
            "0000000000",
            "5555555555",
            "1111111",
            "1234567890",
            "0123456789",
            "9876543210",
            "+90 555 555 55 55",
            "0555 555 55 55",
            "+90 000 000 00 00",
            "+1 111 111 1111",
            "+44 1234 567890",
            "00000",
        ] {
            err(v, "TR", "placeholder");
        }
    }

    #[test]
    fn invalid() {
        for v in [
            "0532 ABC 45 67",
            "1-800-FLOWERS",
            "call me",
            "Tel 0532 123 45 67",
            "Cep: 0532 123 45 67",
            "ext 12",
            "0532 123 45 67 ext",
            "0532 123 45 67 ext abc",
            "0532 123 45 6",
            "0532 123 45 678",
            "+90 532 123 45",
            "05321234567 0533",
            "+",
            "++90 532 123 45 67",
            "0532+1234567",
            "0532 123 45 67 😀",
            "0532_123_45_67",
            "",
            "   ",
            "-",
        ] {
            err(v, "TR", "invalid_format");
        }
        err(&"5".repeat(21), "TR", "invalid_format");
        err(&"12".repeat(100_000), "TR", "invalid_format");
    }

    #[test]
    fn unicode_digits() {
        ok("٠٥٣٢ ١٢٣ ٤٥ ٦٧", "TR", "+905321234567");
        ok("۰۵۳۲۱۲۳۴۵۶۷", "TR", "+905321234567");
        ok("０５３２－１２３－４５６７", "TR", "+905321234567");
        ok(
            "+90\u{a0}532\u{a0}123\u{a0}45\u{a0}67",
            "TR",
            "+905321234567",
        );
        ok("＋90 532 123 45 67", "TR", "+905321234567");
    }
}
