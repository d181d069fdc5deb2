//! Flag groups every plugin shares, so `-o`, `--kubeconfig`, `--context` and `--dry-run`
//! mean the same thing in `mesh-certs`, `mesh-join` and `mesh-verify`.
//!
//! kubectl passes no flags to plugins: each plugin reads these itself.

use crate::render::OutputFormat;
use std::path::PathBuf;
use std::time::Duration;

/// `-o table|json|yaml`.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Output format: a table for people, or JSON/YAML for programs (stdout holds only the data)
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Where the certificate directory is.
#[derive(Debug, Clone, clap::Args)]
pub struct CertsDirArgs {
    /// Directory holding the mesh's root CA and one sub-directory per cluster
    #[arg(
        long,
        value_name = "DIR",
        default_value = "mesh-certs",
        env = "MESH_CERTS_DIR"
    )]
    pub dir: PathBuf,
}

/// `--kubeconfig`, `--context`, `--request-timeout`, as kubectl spells them.
#[derive(Debug, Clone, clap::Args)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, a list of files, then ~/.kube/config)
    #[arg(long, value_name = "FILE", global = true)]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context; repeat it, or give a comma-separated list, for several clusters
    #[arg(
        long = "context",
        value_name = "CONTEXT",
        value_delimiter = ',',
        global = true
    )]
    pub contexts: Vec<String>,

    /// How long to wait for a single API request (e.g. 10s, 1m; 0 means no limit)
    #[arg(long, value_name = "DURATION", default_value = "30s", global = true, value_parser = duration_arg)]
    pub request_timeout: Duration,
}

impl KubeArgs {
    /// `--request-timeout` as a limit: `None` for `0` (no limit, as in kubectl).
    pub fn request_timeout(&self) -> Option<Duration> {
        (!self.request_timeout.is_zero()).then_some(self.request_timeout)
    }
}

/// `--dry-run=none|client|server`, as kubectl spells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRun {
    /// Make the changes.
    #[default]
    None,
    /// Print the plan; contact no cluster for writing.
    Client,
    /// Send every change with dryRun=All: the API server validates, nothing is stored.
    Server,
}

/// `--dry-run`.
#[derive(Debug, Clone, clap::Args)]
pub struct DryRunArgs {
    /// Print the plan (client) or have the API server validate it without storing (server)
    #[arg(long, value_enum, default_value_t = DryRun::None, num_args = 0..=1, default_missing_value = "client", require_equals = true)]
    pub dry_run: DryRun,
}

/// Why a duration flag's value is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Nothing was given.
    #[error("an empty value is not a duration")]
    Empty,
    /// Something that is not a number where a number belongs.
    #[error("'{text}' is not a duration: '{part}' does not start with a number")]
    Number {
        /// The whole value.
        text: String,
        /// The part that failed.
        part: String,
    },
    /// A number without a unit inside a longer value (`1h30`).
    #[error("'{text}' is not a duration: '{number}' has no unit")]
    MissingUnit {
        /// The whole value.
        text: String,
        /// The number without a unit.
        number: String,
    },
    /// A unit kubectl does not know.
    #[error("'{text}' is not a duration: unknown unit '{unit}' (units: ms, s, m, h)")]
    Unit {
        /// The whole value.
        text: String,
        /// The unit given.
        unit: String,
    },
    /// More than this program can count.
    #[error("'{text}' is too long a duration")]
    Overflow {
        /// The whole value.
        text: String,
    },
    /// Zero where the flag needs a positive duration.
    #[error("'{text}' is zero; this flag needs a positive duration")]
    Zero {
        /// The whole value.
        text: String,
    },
}

/// How many nanoseconds one of `unit` is.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// `number` (digits, at most one `.`) times `scale` nanoseconds; `None` when not a number.
fn scaled(number: &str, scale: u128) -> Option<u128> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    let whole: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut nanos = whole.checked_mul(scale)?;
    let mut step = scale;
    for d in frac.bytes() {
        step /= 10;
        nanos = nanos.checked_add(u128::from(d - b'0') * step)?;
    }
    Some(nanos)
}

/// Parses a kubectl (Go) duration: `40s`, `3m`, `1h30m`, `500ms`, `1.5h`; a bare number
/// (`30`, `2.5`) is seconds, `0` is zero. Whether zero is allowed is the flag's business.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let whole = text.trim();
    if whole.is_empty() {
        return Err(DurationError::Empty);
    }
    let overflow = || DurationError::Overflow { text: whole.into() };
    let bare = whole.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let spelled = if bare {
        format!("{whole}s")
    } else {
        whole.to_string()
    };
    let is_number = |c: char| c.is_ascii_digit() || c == '.';
    let mut rest = spelled.as_str();
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let split = rest.find(|c: char| !is_number(c)).unwrap_or(rest.len());
        let (number, after) = rest.split_at(split);
        let split = after.find(is_number).unwrap_or(after.len());
        let (unit, after) = after.split_at(split);
        rest = after;
        if number.is_empty() {
            let part = format!("{unit}{rest}");
            return Err(DurationError::Number {
                text: whole.into(),
                part,
            });
        }
        if unit.is_empty() {
            return Err(DurationError::MissingUnit {
                text: whole.into(),
                number: number.into(),
            });
        }
        let scale = unit_nanos(unit).ok_or_else(|| DurationError::Unit {
            text: whole.into(),
            unit: unit.into(),
        })?;
        let nanos = scaled(number, scale).ok_or_else(|| DurationError::Number {
            text: whole.into(),
            part: number.into(),
        })?;
        total = total.checked_add(nanos).ok_or_else(overflow)?;
    }
    let nanos = u64::try_from(total).map_err(|_| overflow())?;
    Ok(Duration::from_nanos(nanos))
}

const DURATION_EXAMPLES: &str = "give e.g. 40s, 3m, 1h30m or 500ms (a bare number is seconds)";

/// clap value parser for a duration flag that accepts `0`.
pub fn duration_arg(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| format!("{e}; {DURATION_EXAMPLES}"))
}

/// clap value parser for a duration flag that needs more than zero.
pub fn positive_duration_arg(text: &str) -> Result<Duration, String> {
    match duration_arg(text)? {
        d if d.is_zero() => Err(format!(
            "{}; {DURATION_EXAMPLES}",
            DurationError::Zero {
                text: text.trim().into()
            }
        )),
        d => Ok(d),
    }
}

/// `--token-ttl`: `0` (a long-lived token Secret) or at least 10m, the shortest token the
/// TokenRequest API issues.
pub fn token_ttl_arg(text: &str) -> Result<Duration, String> {
    let d = if text.trim() == "0" {
        Duration::ZERO
    } else {
        duration_arg(text)?
    };
    if !d.is_zero() && d.as_secs() < 600 {
        return Err(format!(
            "{} is shorter than 10m, the shortest token the TokenRequest API issues; give 10m or more (e.g. 24h), or 0 for a long-lived token Secret",
            text.trim()
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn token_ttls_are_zero_or_at_least_ten_minutes() {
        assert_eq!(token_ttl_arg("0"), Ok(Duration::ZERO));
        assert_eq!(token_ttl_arg("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(token_ttl_arg("24h"), Ok(Duration::from_secs(86_400)));
        let e = token_ttl_arg("5m").unwrap_err();
        assert!(
            e.contains("5m is shorter than 10m") && e.contains("or 0"),
            "{e}"
        );
        assert!(token_ttl_arg("soon").is_err());
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn kubectl_durations_parse() {
        assert_eq!(parse_duration("40s"), Ok(ms(40_000)));
        assert_eq!(parse_duration("3m"), Ok(ms(180_000)));
        assert_eq!(parse_duration("1h30m"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("1.5h"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration("2m30s500ms"), Ok(ms(150_500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration(" 10s "), Ok(ms(10_000)));
    }

    #[test]
    fn bare_numbers_are_seconds_and_zero_is_zero() {
        assert_eq!(parse_duration("30"), Ok(ms(30_000)));
        assert_eq!(parse_duration("2.5"), Ok(ms(2_500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_values_are_named_with_what_is_wrong() {
        let err = |t: &str| parse_duration(t).unwrap_err().to_string();
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            err("3x"),
            "'3x' is not a duration: unknown unit 'x' (units: ms, s, m, h)"
        );
        assert_eq!(err("1h30"), "'1h30' is not a duration: '30' has no unit");
        assert_eq!(
            err("soon"),
            "'soon' is not a duration: 'soon' does not start with a number"
        );
        assert_eq!(
            err("-5s"),
            "'-5s' is not a duration: '-5s' does not start with a number"
        );
        assert_eq!(
            err("1..5s"),
            "'1..5s' is not a duration: '1..5' does not start with a number"
        );
        assert_eq!(err("99999999999h"), "'99999999999h' is too long a duration");
        assert!(err("1 m").contains("unknown unit ' m'"));
    }

    #[test]
    fn flag_parsers_say_how_to_spell_a_duration_and_where_zero_is_refused() {
        assert_eq!(duration_arg("0"), Ok(Duration::ZERO));
        assert_eq!(positive_duration_arg("5m"), Ok(ms(300_000)));
        let zero = positive_duration_arg("0s").unwrap_err();
        assert!(
            zero.starts_with("'0s' is zero; this flag needs a positive duration"),
            "{zero}"
        );
        let bad = duration_arg("3x").unwrap_err();
        assert!(
            bad.ends_with("give e.g. 40s, 3m, 1h30m or 500ms (a bare number is seconds)"),
            "{bad}"
        );
    }

    #[test]
    fn request_timeout_zero_means_no_limit() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            kube: KubeArgs,
        }
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|c| c.kube.request_timeout());
        assert_eq!(parse(&["x"]).unwrap(), Some(ms(30_000)));
        assert_eq!(
            parse(&["x", "--request-timeout", "1m30s"]).unwrap(),
            Some(ms(90_000))
        );
        assert_eq!(parse(&["x", "--request-timeout=0"]).unwrap(), None);
        let err = parse(&["x", "--request-timeout", "ten"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'ten'") && err.contains("--request-timeout"),
            "{err}"
        );
    }
}

/// A duration as kubectl prints one: `5m`, `1h30m`, `40s`, `500ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn durations_print_as_kubectl_spells_them_and_parse_back() {
        for (d, text) in [
            (300, "5m"),
            (5400, "1h30m"),
            (40, "40s"),
            (0, "0s"),
            (3661, "1h1m1s"),
        ] {
            assert_eq!(format_duration(Duration::from_secs(d)), text);
            assert_eq!(parse_duration(text).unwrap(), Duration::from_secs(d));
        }
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
    }
}
