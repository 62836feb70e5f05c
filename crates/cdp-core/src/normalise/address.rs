//! Address parts: street, city, region, postcode, country.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::name::{fold, fold_small, fold_small_bytes};
use super::words::{pack, Words};
use super::{reason, words};

/// Street abbreviations (folded token → expansion), applied token-wise.
pub const STREET_ABBREVIATIONS: [(&str, &str); 25] = [
    ("st", "street"),
    ("rd", "road"),
    ("ave", "avenue"),
    ("av", "avenue"),
    ("blvd", "boulevard"),
    ("ln", "lane"),
    ("dr", "drive"),
    ("sq", "square"),
    ("hwy", "highway"),
    ("pkwy", "parkway"),
    ("apt", "apartment"),
    ("nr", "no"),
    ("mah", "mahallesi"),
    ("mh", "mahallesi"),
    ("mahalle", "mahallesi"),
    ("cad", "caddesi"),
    ("cd", "caddesi"),
    ("cadde", "caddesi"),
    ("sok", "sokak"),
    ("sk", "sokak"),
    ("sokagi", "sokak"),
    ("bulv", "bulvari"),
    ("blv", "bulvari"),
    ("bulvar", "bulvari"),
    ("str", "strasse"),
];

static STREET_KEYS: Words<25> = {
    let mut keys = [""; 25];
    let mut i = 0;
    while i < 25 {
        keys[i] = STREET_ABBREVIATIONS[i].0;
        i += 1;
    }
    Words::new(keys)
};

fn expand(tok: &str, first: bool, more: bool) -> Option<&'static str> {
    if first && more {
        // "St. Mary's Road", "Dr. Sevket Bey Sk." : a name, not a street type
        match tok {
            "st" => return Some("saint"),
            "dr" => return Some("doctor"),
            _ => {}
        }
    }
    STREET_KEYS.position(tok).map(|i| STREET_ABBREVIATIONS[i].1)
}

/// Street: name-style fold keeping digits ("Straße" → "strasse"), then abbreviations expanded
/// token-wise ("Atatürk Cad. No:12" → "ataturk caddesi no 12", "Hauptstr. 5" →
/// "hauptstrasse 5", "12 High St." → "12 high street"; a leading "St."/"Dr." followed by more
/// words is "saint"/"doctor"). None when nothing is left.
pub fn street(v: &str) -> Option<String> {
    let mut buf = [0u8; 128];
    let owned;
    let f = match fold_small(v, &mut buf) {
        Some(f) => f,
        None => {
            owned = fold(v);
            owned.as_str()
        }
    };
    if f.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(f.len() + 16);
    let mut toks = words(f).peekable();
    let mut first = true;
    while let Some(t) = toks.next() {
        if !out.is_empty() {
            out.push(' ');
        }
        if let Some(e) = expand(t, first, toks.peek().is_some()) {
            out.push_str(e);
        } else if t.len() > 3 && t.ends_with("str") && t.is_ascii() {
            // German compounds: "hauptstr" → "hauptstrasse"
            out.push_str(t);
            out.push_str("asse");
        } else {
            out.push_str(t);
        }
        first = false;
    }
    Some(out)
}

/// A few city aliases (folded).
const CITY_ALIASES: &[(&str, &str)] = &[("nyc", "new york"), ("new york city", "new york")];

/// City: name-style fold keeping digits, plus a few aliases. None when nothing is left.
pub fn city(v: &str) -> Option<String> {
    let f = fold(v);
    if f.is_empty() {
        return None;
    }
    Some(match CITY_ALIASES.iter().find(|(a, _)| *a == f) {
        Some((_, c)) => c.to_string(),
        None => f,
    })
}

/// Region / state / province: name-style fold keeping digits. None when nothing is left.
pub fn region(v: &str) -> Option<String> {
    let f = fold(v);
    (!f.is_empty()).then_some(f)
}

/// Postcode: ASCII letters and digits only, uppercased ("sw1a 1aa" → "SW1A1AA",
/// "34-710" → "34710"). `placeholder` when all zeros, `invalid_format` unless 3–10 chars remain.
pub fn postcode(v: &str) -> Result<String, &'static str> {
    let mut out = String::with_capacity(v.len().min(16));
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() {
            if out.len() == 10 {
                return Err(reason::INVALID_FORMAT);
            }
            out.push(b.to_ascii_uppercase() as char);
        }
    }
    if !out.is_empty() && out.bytes().all(|b| b == b'0') {
        return Err(reason::PLACEHOLDER);
    }
    if out.len() < 3 {
        return Err(reason::INVALID_FORMAT);
    }
    Ok(out)
}

/// ISO 3166-1: (alpha-2, alpha-3, English short name). Plus XK (Kosovo, user-assigned).
pub const COUNTRIES: &[(&str, &str, &str)] = &[
    ("AF", "AFG", "Afghanistan"),
    ("AX", "ALA", "Aland Islands"),
    ("AL", "ALB", "Albania"),
    ("DZ", "DZA", "Algeria"),
    ("AS", "ASM", "American Samoa"),
    ("AD", "AND", "Andorra"),
    ("AO", "AGO", "Angola"),
    ("AI", "AIA", "Anguilla"),
    ("AQ", "ATA", "Antarctica"),
    ("AG", "ATG", "Antigua and Barbuda"),
    ("AR", "ARG", "Argentina"),
    ("AM", "ARM", "Armenia"),
    ("AW", "ABW", "Aruba"),
    ("AU", "AUS", "Australia"),
    ("AT", "AUT", "Austria"),
    ("AZ", "AZE", "Azerbaijan"),
    ("BS", "BHS", "Bahamas"),
    ("BH", "BHR", "Bahrain"),
    ("BD", "BGD", "Bangladesh"),
    ("BB", "BRB", "Barbados"),
    ("BY", "BLR", "Belarus"),
    ("BE", "BEL", "Belgium"),
    ("BZ", "BLZ", "Belize"),
    ("BJ", "BEN", "Benin"),
    ("BM", "BMU", "Bermuda"),
    ("BT", "BTN", "Bhutan"),
    ("BO", "BOL", "Bolivia"),
    ("BQ", "BES", "Bonaire, Sint Eustatius and Saba"),
    ("BA", "BIH", "Bosnia and Herzegovina"),
    ("BW", "BWA", "Botswana"),
    ("BV", "BVT", "Bouvet Island"),
    ("BR", "BRA", "Brazil"),
    ("IO", "IOT", "British Indian Ocean Territory"),
    ("BN", "BRN", "Brunei Darussalam"),
    ("BG", "BGR", "Bulgaria"),
    ("BF", "BFA", "Burkina Faso"),
    ("BI", "BDI", "Burundi"),
    ("CV", "CPV", "Cabo Verde"),
    ("KH", "KHM", "Cambodia"),
    ("CM", "CMR", "Cameroon"),
    ("CA", "CAN", "Canada"),
    ("KY", "CYM", "Cayman Islands"),
    ("CF", "CAF", "Central African Republic"),
    ("TD", "TCD", "Chad"),
    ("CL", "CHL", "Chile"),
    ("CN", "CHN", "China"),
    ("CX", "CXR", "Christmas Island"),
    ("CC", "CCK", "Cocos (Keeling) Islands"),
    ("CO", "COL", "Colombia"),
    ("KM", "COM", "Comoros"),
    ("CG", "COG", "Congo"),
    ("CD", "COD", "Democratic Republic of the Congo"),
    ("CK", "COK", "Cook Islands"),
    ("CR", "CRI", "Costa Rica"),
    ("CI", "CIV", "Cote d'Ivoire"),
    ("HR", "HRV", "Croatia"),
    ("CU", "CUB", "Cuba"),
    ("CW", "CUW", "Curacao"),
    ("CY", "CYP", "Cyprus"),
    ("CZ", "CZE", "Czechia"),
    ("DK", "DNK", "Denmark"),
    ("DJ", "DJI", "Djibouti"),
    ("DM", "DMA", "Dominica"),
    ("DO", "DOM", "Dominican Republic"),
    ("EC", "ECU", "Ecuador"),
    ("EG", "EGY", "Egypt"),
    ("SV", "SLV", "El Salvador"),
    ("GQ", "GNQ", "Equatorial Guinea"),
    ("ER", "ERI", "Eritrea"),
    ("EE", "EST", "Estonia"),
    ("SZ", "SWZ", "Eswatini"),
    ("ET", "ETH", "Ethiopia"),
    ("FK", "FLK", "Falkland Islands"),
    ("FO", "FRO", "Faroe Islands"),
    ("FJ", "FJI", "Fiji"),
    ("FI", "FIN", "Finland"),
    ("FR", "FRA", "France"),
    ("GF", "GUF", "French Guiana"),
    ("PF", "PYF", "French Polynesia"),
    ("TF", "ATF", "French Southern Territories"),
    ("GA", "GAB", "Gabon"),
    ("GM", "GMB", "Gambia"),
    ("GE", "GEO", "Georgia"),
    ("DE", "DEU", "Germany"),
    ("GH", "GHA", "Ghana"),
    ("GI", "GIB", "Gibraltar"),
    ("GR", "GRC", "Greece"),
    ("GL", "GRL", "Greenland"),
    ("GD", "GRD", "Grenada"),
    ("GP", "GLP", "Guadeloupe"),
    ("GU", "GUM", "Guam"),
    ("GT", "GTM", "Guatemala"),
    ("GG", "GGY", "Guernsey"),
    ("GN", "GIN", "Guinea"),
    ("GW", "GNB", "Guinea-Bissau"),
    ("GY", "GUY", "Guyana"),
    ("HT", "HTI", "Haiti"),
    ("HM", "HMD", "Heard Island and McDonald Islands"),
    ("VA", "VAT", "Holy See"),
    ("HN", "HND", "Honduras"),
    ("HK", "HKG", "Hong Kong"),
    ("HU", "HUN", "Hungary"),
    ("IS", "ISL", "Iceland"),
    ("IN", "IND", "India"),
    ("ID", "IDN", "Indonesia"),
    ("IR", "IRN", "Iran"),
    ("IQ", "IRQ", "Iraq"),
    ("IE", "IRL", "Ireland"),
    ("IM", "IMN", "Isle of Man"),
    ("IL", "ISR", "Israel"),
    ("IT", "ITA", "Italy"),
    ("JM", "JAM", "Jamaica"),
    ("JP", "JPN", "Japan"),
    ("JE", "JEY", "Jersey"),
    ("JO", "JOR", "Jordan"),
    ("KZ", "KAZ", "Kazakhstan"),
    ("KE", "KEN", "Kenya"),
    ("KI", "KIR", "Kiribati"),
    ("KP", "PRK", "North Korea"),
    ("KR", "KOR", "South Korea"),
    ("KW", "KWT", "Kuwait"),
    ("KG", "KGZ", "Kyrgyzstan"),
    ("LA", "LAO", "Laos"),
    ("LV", "LVA", "Latvia"),
    ("LB", "LBN", "Lebanon"),
    ("LS", "LSO", "Lesotho"),
    ("LR", "LBR", "Liberia"),
    ("LY", "LBY", "Libya"),
    ("LI", "LIE", "Liechtenstein"),
    ("LT", "LTU", "Lithuania"),
    ("LU", "LUX", "Luxembourg"),
    ("MO", "MAC", "Macao"),
    ("MG", "MDG", "Madagascar"),
    ("MW", "MWI", "Malawi"),
    ("MY", "MYS", "Malaysia"),
    ("MV", "MDV", "Maldives"),
    ("ML", "MLI", "Mali"),
    ("MT", "MLT", "Malta"),
    ("MH", "MHL", "Marshall Islands"),
    ("MQ", "MTQ", "Martinique"),
    ("MR", "MRT", "Mauritania"),
    ("MU", "MUS", "Mauritius"),
    ("YT", "MYT", "Mayotte"),
    ("MX", "MEX", "Mexico"),
    ("FM", "FSM", "Micronesia"),
    ("MD", "MDA", "Moldova"),
    ("MC", "MCO", "Monaco"),
    ("MN", "MNG", "Mongolia"),
    ("ME", "MNE", "Montenegro"),
    ("MS", "MSR", "Montserrat"),
    ("MA", "MAR", "Morocco"),
    ("MZ", "MOZ", "Mozambique"),
    ("MM", "MMR", "Myanmar"),
    ("NA", "NAM", "Namibia"),
    ("NR", "NRU", "Nauru"),
    ("NP", "NPL", "Nepal"),
    ("NL", "NLD", "Netherlands"),
    ("NC", "NCL", "New Caledonia"),
    ("NZ", "NZL", "New Zealand"),
    ("NI", "NIC", "Nicaragua"),
    ("NE", "NER", "Niger"),
    ("NG", "NGA", "Nigeria"),
    ("NU", "NIU", "Niue"),
    ("NF", "NFK", "Norfolk Island"),
    ("MK", "MKD", "North Macedonia"),
    ("MP", "MNP", "Northern Mariana Islands"),
    ("NO", "NOR", "Norway"),
    ("OM", "OMN", "Oman"),
    ("PK", "PAK", "Pakistan"),
    ("PW", "PLW", "Palau"),
    ("PS", "PSE", "Palestine"),
    ("PA", "PAN", "Panama"),
    ("PG", "PNG", "Papua New Guinea"),
    ("PY", "PRY", "Paraguay"),
    ("PE", "PER", "Peru"),
    ("PH", "PHL", "Philippines"),
    ("PN", "PCN", "Pitcairn"),
    ("PL", "POL", "Poland"),
    ("PT", "PRT", "Portugal"),
    ("PR", "PRI", "Puerto Rico"),
    ("QA", "QAT", "Qatar"),
    ("RE", "REU", "Reunion"),
    ("RO", "ROU", "Romania"),
    ("RU", "RUS", "Russia"),
    ("RW", "RWA", "Rwanda"),
    ("BL", "BLM", "Saint Barthelemy"),
    ("SH", "SHN", "Saint Helena"),
    ("KN", "KNA", "Saint Kitts and Nevis"),
    ("LC", "LCA", "Saint Lucia"),
    ("MF", "MAF", "Saint Martin"),
    ("PM", "SPM", "Saint Pierre and Miquelon"),
    ("VC", "VCT", "Saint Vincent and the Grenadines"),
    ("WS", "WSM", "Samoa"),
    ("SM", "SMR", "San Marino"),
    ("ST", "STP", "Sao Tome and Principe"),
    ("SA", "SAU", "Saudi Arabia"),
    ("SN", "SEN", "Senegal"),
    ("RS", "SRB", "Serbia"),
    ("SC", "SYC", "Seychelles"),
    ("SL", "SLE", "Sierra Leone"),
    ("SG", "SGP", "Singapore"),
    ("SX", "SXM", "Sint Maarten"),
    ("SK", "SVK", "Slovakia"),
    ("SI", "SVN", "Slovenia"),
    ("SB", "SLB", "Solomon Islands"),
    ("SO", "SOM", "Somalia"),
    ("ZA", "ZAF", "South Africa"),
    ("GS", "SGS", "South Georgia and the South Sandwich Islands"),
    ("SS", "SSD", "South Sudan"),
    ("ES", "ESP", "Spain"),
    ("LK", "LKA", "Sri Lanka"),
    ("SD", "SDN", "Sudan"),
    ("SR", "SUR", "Suriname"),
    ("SJ", "SJM", "Svalbard and Jan Mayen"),
    ("SE", "SWE", "Sweden"),
    ("CH", "CHE", "Switzerland"),
    ("SY", "SYR", "Syria"),
    ("TW", "TWN", "Taiwan"),
    ("TJ", "TJK", "Tajikistan"),
    ("TZ", "TZA", "Tanzania"),
    ("TH", "THA", "Thailand"),
    ("TL", "TLS", "Timor-Leste"),
    ("TG", "TGO", "Togo"),
    ("TK", "TKL", "Tokelau"),
    ("TO", "TON", "Tonga"),
    ("TT", "TTO", "Trinidad and Tobago"),
    ("TN", "TUN", "Tunisia"),
    ("TR", "TUR", "Turkey"),
    ("TM", "TKM", "Turkmenistan"),
    ("TC", "TCA", "Turks and Caicos Islands"),
    ("TV", "TUV", "Tuvalu"),
    ("UG", "UGA", "Uganda"),
    ("UA", "UKR", "Ukraine"),
    ("AE", "ARE", "United Arab Emirates"),
    ("GB", "GBR", "United Kingdom"),
    ("US", "USA", "United States"),
    ("UM", "UMI", "United States Minor Outlying Islands"),
    ("UY", "URY", "Uruguay"),
    ("UZ", "UZB", "Uzbekistan"),
    ("VU", "VUT", "Vanuatu"),
    ("VE", "VEN", "Venezuela"),
    ("VN", "VNM", "Viet Nam"),
    ("VG", "VGB", "British Virgin Islands"),
    ("VI", "VIR", "United States Virgin Islands"),
    ("WF", "WLF", "Wallis and Futuna"),
    ("EH", "ESH", "Western Sahara"),
    ("YE", "YEM", "Yemen"),
    ("ZM", "ZMB", "Zambia"),
    ("ZW", "ZWE", "Zimbabwe"),
    ("XK", "XKX", "Kosovo"),
];

/// Other names (English variants, native and Turkish/German/French/Spanish names) → alpha-2.
/// Folded like the input, so accents and case do not matter.
pub const COUNTRY_ALIASES: &[(&str, &str)] = &[
    // Turkey
    ("Türkiye", "TR"),
    ("Turkei", "TR"),
    ("Turquie", "TR"),
    ("Turquia", "TR"),
    ("Turchia", "TR"),
    ("Republic of Turkey", "TR"),
    ("Republic of Türkiye", "TR"),
    ("Türkiye Cumhuriyeti", "TR"),
    // Germany
    ("Deutschland", "DE"),
    ("Almanya", "DE"),
    ("Allemagne", "DE"),
    ("Alemania", "DE"),
    ("Germania", "DE"),
    ("Federal Republic of Germany", "DE"),
    ("Bundesrepublik Deutschland", "DE"),
    ("BRD", "DE"),
    // United States
    ("USA", "US"),
    ("U.S.A.", "US"),
    ("U.S.", "US"),
    ("United States of America", "US"),
    ("America", "US"),
    ("Amerika", "US"),
    ("ABD", "US"),
    ("Amerika Birleşik Devletleri", "US"),
    ("Estados Unidos", "US"),
    ("États-Unis", "US"),
    ("Vereinigte Staaten", "US"),
    // United Kingdom
    ("UK", "GB"),
    ("U.K.", "GB"),
    ("Great Britain", "GB"),
    ("Britain", "GB"),
    ("England", "GB"),
    ("Scotland", "GB"),
    ("Wales", "GB"),
    ("Northern Ireland", "GB"),
    ("United Kingdom of Great Britain and Northern Ireland", "GB"),
    ("İngiltere", "GB"),
    ("Birleşik Krallık", "GB"),
    ("Großbritannien", "GB"),
    ("Vereinigtes Königreich", "GB"),
    ("Royaume-Uni", "GB"),
    ("Reino Unido", "GB"),
    // France, Netherlands, Belgium
    ("Frankreich", "FR"),
    ("Fransa", "FR"),
    ("Francia", "FR"),
    ("Holland", "NL"),
    ("Nederland", "NL"),
    ("The Netherlands", "NL"),
    ("Hollanda", "NL"),
    ("Niederlande", "NL"),
    ("Pays-Bas", "NL"),
    ("Países Bajos", "NL"),
    ("Belçika", "BE"),
    ("Belgien", "BE"),
    ("Belgique", "BE"),
    ("België", "BE"),
    ("Bélgica", "BE"),
    // Spain, Italy, Portugal, Greece
    ("España", "ES"),
    ("Spanien", "ES"),
    ("İspanya", "ES"),
    ("Espagne", "ES"),
    ("Spagna", "ES"),
    ("Italia", "IT"),
    ("Italien", "IT"),
    ("İtalya", "IT"),
    ("Italie", "IT"),
    ("Portekiz", "PT"),
    ("Ελλάδα", "GR"),
    ("Hellas", "GR"),
    ("Ellada", "GR"),
    ("Yunanistan", "GR"),
    ("Griechenland", "GR"),
    ("Grèce", "GR"),
    // Austria, Switzerland, Nordics, Poland, Ireland
    ("Österreich", "AT"),
    ("Avusturya", "AT"),
    ("Autriche", "AT"),
    ("Schweiz", "CH"),
    ("Suisse", "CH"),
    ("Svizzera", "CH"),
    ("İsviçre", "CH"),
    ("Suiza", "CH"),
    ("Sverige", "SE"),
    ("İsveç", "SE"),
    ("Schweden", "SE"),
    ("Suède", "SE"),
    ("Norge", "NO"),
    ("Norveç", "NO"),
    ("Norwegen", "NO"),
    ("Danmark", "DK"),
    ("Danimarka", "DK"),
    ("Dänemark", "DK"),
    ("Polska", "PL"),
    ("Polonya", "PL"),
    ("Polen", "PL"),
    ("Éire", "IE"),
    ("Irlanda", "IE"),
    ("Irland", "IE"),
    ("Republic of Ireland", "IE"),
    ("Finlandiya", "FI"),
    ("Suomi", "FI"),
    // Russia, Caucasus, Central Asia
    ("Russian Federation", "RU"),
    ("Россия", "RU"),
    ("Rossiya", "RU"),
    ("Rusya", "RU"),
    ("Russland", "RU"),
    ("Russie", "RU"),
    ("Azərbaycan", "AZ"),
    ("Azerbaycan", "AZ"),
    ("Gürcistan", "GE"),
    ("Sakartvelo", "GE"),
    ("Kazakistan", "KZ"),
    ("Özbekistan", "UZ"),
    ("Kırgızistan", "KG"),
    ("Türkmenistan", "TM"),
    // Middle East
    ("UAE", "AE"),
    ("U.A.E.", "AE"),
    ("Emirates", "AE"),
    ("BAE", "AE"),
    ("Birleşik Arap Emirlikleri", "AE"),
    ("Vereinigte Arabische Emirate", "AE"),
    ("KSA", "SA"),
    ("Kingdom of Saudi Arabia", "SA"),
    ("Suudi Arabistan", "SA"),
    ("Katar", "QA"),
    ("Kuveyt", "KW"),
    ("Ürdün", "JO"),
    ("Lübnan", "LB"),
    ("Irak", "IQ"),
    ("Suriye", "SY"),
    ("Mısır", "EG"),
    ("İsrail", "IL"),
    ("Kıbrıs", "CY"),
    // Asia, Oceania
    ("Hindistan", "IN"),
    ("Bharat", "IN"),
    ("Indien", "IN"),
    ("Inde", "IN"),
    ("Çin", "CN"),
    ("People's Republic of China", "CN"),
    ("PRC", "CN"),
    ("中国", "CN"),
    ("Japonya", "JP"),
    ("Nippon", "JP"),
    ("Nihon", "JP"),
    ("日本", "JP"),
    ("Japon", "JP"),
    ("Korea", "KR"),
    ("Republic of Korea", "KR"),
    ("Güney Kore", "KR"),
    ("Vietnam", "VN"),
    ("Burma", "MM"),
    ("East Timor", "TL"),
    ("Avustralya", "AU"),
    ("Australien", "AU"),
    ("Yeni Zelanda", "NZ"),
    ("Endonezya", "ID"),
    ("Malezya", "MY"),
    ("Singapur", "SG"),
    ("Tayland", "TH"),
    ("Filipinler", "PH"),
    ("Pakistan", "PK"),
    // Americas, Africa
    ("Brasil", "BR"),
    ("Brezilya", "BR"),
    ("Brésil", "BR"),
    ("México", "MX"),
    ("Meksika", "MX"),
    ("Mexiko", "MX"),
    ("Kanada", "CA"),
    ("Arjantin", "AR"),
    ("Şili", "CL"),
    ("Kolombiya", "CO"),
    ("Güney Afrika", "ZA"),
    ("Nijerya", "NG"),
    ("Fas", "MA"),
    ("Tunus", "TN"),
    ("Cezayir", "DZ"),
    ("Ivory Coast", "CI"),
    ("Cape Verde", "CV"),
    ("Swaziland", "SZ"),
    ("DR Congo", "CD"),
    ("DRC", "CD"),
    ("Republic of the Congo", "CG"),
    // Europe (others)
    ("Czech Republic", "CZ"),
    ("Çekya", "CZ"),
    ("Macaristan", "HU"),
    ("Romanya", "RO"),
    ("Bulgaristan", "BG"),
    ("Ukrayna", "UA"),
    ("Hırvatistan", "HR"),
    ("Sırbistan", "RS"),
    ("Bosna Hersek", "BA"),
    ("Bosnia", "BA"),
    ("Arnavutluk", "AL"),
    ("Macedonia", "MK"),
    ("Makedonya", "MK"),
    ("Karadağ", "ME"),
    ("Kosova", "XK"),
    ("Moldavia", "MD"),
    ("Beyaz Rusya", "BY"),
    ("Letonya", "LV"),
    ("Litvanya", "LT"),
    ("Estonya", "EE"),
    ("Slovakya", "SK"),
    ("Slovenya", "SI"),
    ("Lüksemburg", "LU"),
    ("İzlanda", "IS"),
    ("Vatican", "VA"),
    ("Vatican City", "VA"),
];

/// Lookup key of a country name: folded, and with "the"/"and"/"of" dropped when the name has
/// more than one word ("Bosnia & Herzegovina" = "Bosnia and Herzegovina").
fn country_key(v: &str) -> String {
    let f = fold(v);
    let mut out = vec![0u8; f.len()];
    let n = drop_stop_words(f.as_bytes(), &mut out);
    out.truncate(n);
    String::from_utf8(out).unwrap_or_default()
}

fn is_stop_word(t: &[u8]) -> bool {
    matches!(t, b"the" | b"and" | b"of")
}

/// Drop the stop words of a folded multi-word string `f` into `out` (at least as long as
/// `f`); returns the length. A single word is copied as it is (the country code "AND").
fn drop_stop_words(f: &[u8], out: &mut [u8]) -> usize {
    if !f.contains(&b' ') {
        out[..f.len()].copy_from_slice(f);
        return f.len();
    }
    let mut n = 0;
    for t in f.split(|&c| c == b' ').filter(|t| !is_stop_word(t)) {
        if n > 0 {
            out[n] = b' ';
            n += 1;
        }
        out[n..n + t.len()].copy_from_slice(t);
        n += t.len();
    }
    n
}

/// Country lookup table: keys of up to 15 bytes packed and sorted (no hashing, no allocation
/// per lookup); longer keys in a map.
struct CountryIndex {
    short: Vec<(u128, &'static str)>,
    long: HashMap<String, &'static str>,
}

impl CountryIndex {
    fn insert(&mut self, key: String, a2: &'static str) {
        match pack(key.as_bytes()) {
            0 => {
                self.long.insert(key, a2);
            }
            k => self.short.push((k, a2)),
        }
    }

    fn get(&self, key: &[u8]) -> Option<&'static str> {
        match pack(key) {
            0 => self.long.get(std::str::from_utf8(key).ok()?).copied(),
            k => self
                .short
                .binary_search_by_key(&k, |e| e.0)
                .ok()
                .map(|i| self.short[i].1),
        }
    }
}

fn country_index() -> &'static CountryIndex {
    static INDEX: OnceLock<CountryIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut ix = CountryIndex {
            short: Vec::new(),
            long: HashMap::new(),
        };
        for &(a2, a3, name) in COUNTRIES {
            ix.insert(a2.to_ascii_lowercase(), a2);
            ix.insert(a3.to_ascii_lowercase(), a2);
            ix.insert(country_key(name), a2);
        }
        for &(alias, a2) in COUNTRY_ALIASES {
            ix.insert(country_key(alias), a2);
        }
        ix.short.sort_unstable();
        ix.short.dedup_by_key(|e| e.0);
        ix
    })
}

/// Country → ISO 3166-1 alpha-2 (uppercase): accepts alpha-2, alpha-3, English names and common
/// native / Turkish / German / French / Spanish names, folded ("türkiye", "TUR", "Deutschland",
/// "U.S.A.", "España"). `unknown_country` otherwise.
pub fn country(v: &str) -> Result<&'static str, &'static str> {
    if v.len() > 100 {
        return Err(reason::UNKNOWN_COUNTRY);
    }
    let ix = country_index();
    let mut buf = [0u8; 48];
    let found = match fold_small_bytes(v, &mut buf) {
        // short ASCII ("TR", "deu", "Germany", "United Kingdom"): no allocation
        Some(f) => {
            let mut key = [0u8; 48];
            let n = drop_stop_words(f, &mut key);
            ix.get(&key[..n])
        }
        None => ix.get(country_key(v).as_bytes()),
    };
    found.ok_or(reason::UNKNOWN_COUNTRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streets() {
        let s = |v: &str| street(v).unwrap();
        assert_eq!(s("Atatürk Cad. No: 12"), "ataturk caddesi no 12");
        assert_eq!(s("Atatürk Caddesi No 12"), "ataturk caddesi no 12");
        assert_eq!(s("ATATÜRK CD. NO:12"), "ataturk caddesi no 12");
        assert_eq!(s("Bağdat Cadde Nr. 5"), "bagdat caddesi no 5");
        assert_eq!(
            s("Moda Mah. Şair Nefi Sok. No:3"),
            "moda mahallesi sair nefi sokak no 3"
        );
        assert_eq!(
            s("Moda Mh. Şair Nefi Sk. 3"),
            "moda mahallesi sair nefi sokak 3"
        );
        assert_eq!(s("Şair Nefi Sokağı"), "sair nefi sokak");
        assert_eq!(s("Vatan Bulv. 5"), "vatan bulvari 5");
        assert_eq!(s("Vatan Blv 5"), "vatan bulvari 5");
        assert_eq!(s("Mimar Sinan Mahalle"), "mimar sinan mahallesi");
        assert_eq!(s("12 High St."), "12 high street");
        assert_eq!(s("12 High Street"), "12 high street");
        assert_eq!(s("5th Ave"), "5th avenue");
        assert_eq!(s("1600 Pennsylvania Av NW"), "1600 pennsylvania avenue nw");
        assert_eq!(s("Sunset Blvd., Apt 4"), "sunset boulevard apartment 4");
        assert_eq!(s("Abbey Rd"), "abbey road");
        assert_eq!(s("Penny Ln"), "penny lane");
        assert_eq!(s("Mulholland Dr."), "mulholland drive");
        assert_eq!(s("Washington Sq"), "washington square");
        assert_eq!(s("St. Mary's Rd"), "saint marys road");
        assert_eq!(s("Dr. Refik Saydam Cad."), "doctor refik saydam caddesi");
        assert_eq!(s("Hauptstraße 5"), "hauptstrasse 5");
        assert_eq!(s("Hauptstr. 5"), "hauptstrasse 5");
        assert_eq!(s("Berliner Str. 10"), "berliner strasse 10");
        assert_eq!(s("Rue de l'Église"), "rue de leglise");
        assert_eq!(street("---"), None);
        assert_eq!(street("😀"), None);
    }

    #[test]
    fn cities_and_regions() {
        assert_eq!(city("İstanbul"), Some("istanbul".into()));
        assert_eq!(city("ISTANBUL"), Some("istanbul".into()));
        assert_eq!(city("  München "), Some("munchen".into()));
        assert_eq!(city("Saint-Étienne"), Some("saint etienne".into()));
        assert_eq!(city("NYC"), Some("new york".into()));
        assert_eq!(city("New York City"), Some("new york".into()));
        assert_eq!(city("Москва"), Some("moskva".into()));
        assert_eq!(city("Paris 75001"), Some("paris 75001".into()));
        assert_eq!(city("..."), None);
        assert_eq!(region("Kadıköy"), Some("kadikoy".into()));
        assert_eq!(region("Île-de-France"), Some("ile de france".into()));
        assert_eq!(region("N.Y."), Some("n y".into()));
        assert_eq!(region("  "), None);
    }

    #[test]
    fn postcodes() {
        assert_eq!(postcode("34710"), Ok("34710".into()));
        assert_eq!(postcode("sw1a 1aa"), Ok("SW1A1AA".into()));
        assert_eq!(postcode("1234 AB"), Ok("1234AB".into()));
        assert_eq!(postcode("10115-"), Ok("10115".into()));
        assert_eq!(postcode("90210-1234"), Ok("902101234".into()));
        assert_eq!(postcode("K1A 0B1"), Ok("K1A0B1".into()));
        assert_eq!(postcode("D02 X285"), Ok("D02X285".into()));
        assert_eq!(postcode("00000"), Err("placeholder"));
        assert_eq!(postcode("000-00"), Err("placeholder"));
        assert_eq!(postcode("00"), Err("placeholder"));
        assert_eq!(postcode("12"), Err("invalid_format"));
        assert_eq!(postcode("12345678901"), Err("invalid_format"));
        assert_eq!(postcode("--"), Err("invalid_format"));
        assert_eq!(postcode("çöü"), Err("invalid_format"));
        assert_eq!(postcode(&"1".repeat(100_000)), Err("invalid_format"));
    }

    #[test]
    fn countries() {
        let ok = |v: &str, want: &str| assert_eq!(country(v), Ok(want), "{v:?}");
        for v in [
            "turkey",
            "Türkiye",
            "TÜRKİYE",
            "turkiye",
            "tr",
            "TR",
            "tur",
            "TUR",
            "Türkei",
        ] {
            ok(v, "TR");
        }
        for v in [
            "Germany",
            "Deutschland",
            "de",
            "DEU",
            "Almanya",
            "Allemagne",
        ] {
            ok(v, "DE");
        }
        for v in [
            "United States",
            "USA",
            "us",
            "United States of America",
            "America",
            "U.S.A.",
            "u.s.",
            "ABD",
            "Amerika Birleşik Devletleri",
        ] {
            ok(v, "US");
        }
        for v in [
            "United Kingdom",
            "UK",
            "Great Britain",
            "England",
            "GB",
            "GBR",
            "İngiltere",
        ] {
            ok(v, "GB");
        }
        for v in ["France", "Frankreich", "FRA", "fr"] {
            ok(v, "FR");
        }
        for v in [
            "Netherlands",
            "Holland",
            "Nederland",
            "The Netherlands",
            "NLD",
        ] {
            ok(v, "NL");
        }
        for v in ["Spain", "España", "Espana", "ESP"] {
            ok(v, "ES");
        }
        for v in ["Italy", "Italia", "ITA"] {
            ok(v, "IT");
        }
        ok("Österreich", "AT");
        ok("Schweiz", "CH");
        ok("Sverige", "SE");
        ok("Norway", "NO");
        ok("Danmark", "DK");
        ok("Polska", "PL");
        ok("Ελλάδα", "GR");
        ok("Greece", "GR");
        ok("Portugal", "PT");
        ok("Ireland", "IE");
        ok("Russia", "RU");
        ok("Россия", "RU");
        ok("Azərbaycan", "AZ");
        ok("Azerbaijan", "AZ");
        ok("UAE", "AE");
        ok("United Arab Emirates", "AE");
        ok("Saudi Arabia", "SA");
        ok("India", "IN");
        ok("China", "CN");
        ok("中国", "CN");
        ok("Japan", "JP");
        ok("Brazil", "BR");
        ok("Brasil", "BR");
        ok("Mexico", "MX");
        ok("México", "MX");
        ok("Australia", "AU");
        ok("Canada", "CA");
        ok("Belgium", "BE");
        ok("Bosnia & Herzegovina", "BA");
        ok("Bosnia and Herzegovina", "BA");
        ok("Côte d'Ivoire", "CI");
        ok("Hungary", "HU");
        ok("HUN", "HU");
        ok("zw", "ZW");
        ok("Kosovo", "XK");
        ok("Andorra", "AD");
        ok("AND", "AD");
        for v in ["Atlantis", "XX", "ZZZ", "the", "", "Narnia Republic", "😀"] {
            assert_eq!(country(v), Err("unknown_country"), "{v:?}");
        }
        assert_eq!(country(&"a".repeat(1000)), Err("unknown_country"));
    }

    #[test]
    fn country_table_consistent() {
        let mut seen: HashMap<String, &str> = HashMap::new();
        for &(a2, a3, name) in COUNTRIES {
            assert_eq!(a2.len(), 2);
            assert_eq!(a3.len(), 3);
            assert!(a2.bytes().chain(a3.bytes()).all(|b| b.is_ascii_uppercase()));
            for k in [
                a2.to_ascii_lowercase(),
                a3.to_ascii_lowercase(),
                country_key(name),
            ] {
                if let Some(prev) = seen.insert(k.clone(), a2) {
                    assert_eq!(prev, a2, "key {k:?} maps to {prev} and {a2}");
                }
            }
        }
        assert_eq!(COUNTRIES.len(), 250);
        for &(alias, a2) in COUNTRY_ALIASES {
            assert!(COUNTRIES.iter().any(|c| c.0 == a2), "{alias} → {a2}");
            let k = country_key(alias);
            if let Some(prev) = seen.insert(k.clone(), a2) {
                assert_eq!(prev, a2, "alias key {k:?} maps to {prev} and {a2}");
            }
        }
        // every plan country of the phone module is a country here
        for p in super::super::phone::PLANS {
            assert_eq!(country(p.iso), Ok(p.iso));
        }
    }
}
