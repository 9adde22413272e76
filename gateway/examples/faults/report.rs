//! One row per scenario, and the Markdown table of them with what backs each row.

use std::{path::Path, time::Duration};

use crate::load::Tally;

/// A scenario's counts. `None`: the scenario cannot show that kind of problem (no creates, no
/// deletions...), printed `–`, never as a reassuring 0.
#[derive(Debug, Default)]
pub struct Row {
    pub scenario: &'static str,
    pub tally: Tally,
    pub lost: Option<u64>,
    pub duplicated: Option<u64>,
    pub stale: Option<u64>,
    pub orphans: Option<u64>,
    pub late_overwrites: Option<u64>,
    /// `None`: not back to normal within the limit.
    pub time_until_normal: Option<Duration>,
    /// What backs the counts: the answers seen, the evidence of each problem.
    pub notes: Vec<String>,
    /// Why the scenario could not run to its end.
    pub error: Option<String>,
}

impl Row {
    /// The row of a scenario that deletes users: what it can show is lost deletions, stale
    /// reads and orphaned orders.
    pub fn of_deletions(
        scenario: &'static str,
        tally: Tally,
        lost: u64,
        orphans: u64,
        time_until_normal: Option<Duration>,
        notes: Vec<String>,
    ) -> Self {
        let stale = Some(tally.stale);
        Self {
            scenario,
            lost: Some(lost),
            stale,
            orphans: Some(orphans),
            time_until_normal,
            tally,
            notes,
            ..Self::default()
        }
    }

    pub fn failed(scenario: &'static str, error: String) -> Self {
        Self { scenario, error: Some(error), ..Self::default() }
    }

    /// Whether any count is not 0, or the scenario could not run.
    pub fn has_problems(&self) -> bool {
        self.error.is_some()
            || [self.lost, self.duplicated, self.stale, self.orphans, self.late_overwrites]
                .iter()
                .any(|count| count.is_some_and(|count| count > 0))
    }

    pub fn summary(&self) -> String {
        match &self.error {
            Some(error) => format!("ERROR {error}"),
            None => self.cells()[1..].join(" | "),
        }
    }

    fn cells(&self) -> Vec<String> {
        let count = |count: Option<u64>| count.map_or_else(|| "–".to_owned(), |count| count.to_string());
        let t = &self.tally;
        vec![
            format!("`{}`", self.scenario),
            format!("{}/{}/{}", t.ok, t.failed, t.unknown),
            t.retries.to_string(),
            count(self.lost),
            count(self.duplicated),
            count(self.stale),
            count(self.orphans),
            count(self.late_overwrites),
            self.time_until_normal
                .map_or_else(|| "not within 90 s".to_owned(), |time| format!("{:.1} s", time.as_secs_f64())),
        ]
    }
}

const HEADER: &str = "| scenario | writes ok/failed/unknown | retries | lost | duplicated | stale | orphans | late overwrites | time until normal |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";

const LEGEND: &str = "
- **writes**: logical writes of the load (setup and probes not counted), by what the client last learnt of each: \
ok, failed (a definite error), unknown (`SERVICE_UNAVAILABLE`, `INTERNAL_SERVER_ERROR`, `TIMEOUT`, no answer, a \
lost connection) after its retries. **retries**: attempts repeated with the same `Idempotency-Key`.
- **lost**: acknowledged writes whose effect is not in the database. **duplicated**: extra rows of one logical \
create (one description each). **stale**: reads through the API, after a write was acknowledged, showing an older \
value (or a deleted user or order). **orphans**: orders of deleted users, 2 s after recovery. **late overwrites**: \
orders whose stored quantity is not the last acknowledged one (nor a later unknown one) but an earlier \
unacknowledged write's. **time until normal**: from the fault's end until every gateway's `/readyz` is 200 and a \
probe write succeeds through each.
";

pub fn markdown(rows: &[Row], took: Duration, logs: &Path) -> String {
    let mut out = String::from(HEADER);
    for row in rows {
        match &row.error {
            Some(error) => {
                out.push_str(&format!(
                    "| `{}` | could not run: {} |{}\n",
                    row.scenario,
                    one_line(error),
                    " |".repeat(7)
                ));
            }
            None => out.push_str(&format!("| {} |\n", row.cells().join(" | "))),
        }
    }
    out.push_str(&format!(
        "\n`–`: the scenario cannot show that problem. Run took {:.0} s; process logs under `{}`.\n{LEGEND}",
        took.as_secs_f64(),
        logs.display()
    ));
    for row in rows {
        if row.error.is_some() {
            continue;
        }
        let t = &row.tally;
        out.push_str(&format!("\n### `{}`\n\n", row.scenario));
        let answers: Vec<String> = t.answers.iter().map(|(answer, count)| format!("{answer} ×{count}")).collect();
        let answers = if answers.is_empty() { "none".to_owned() } else { answers.join(", ") };
        out.push_str(&format!("- answers other than ok, attempt by attempt: {answers}\n"));
        out.push_str(&format!("- read-backs: {} ({} stale, {} failed)\n", t.reads, t.stale, t.read_errors));
        for example in &t.stale_examples {
            out.push_str(&format!("- stale: {}\n", one_line(example)));
        }
        for note in &row.notes {
            out.push_str(&format!("- {}\n", one_line(note)));
        }
    }
    out
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '|'], " ")
}
