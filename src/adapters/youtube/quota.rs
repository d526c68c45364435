//! The quota governor: counts the Data API units each call costs against
//! the project's daily budget (reset at midnight Pacific time), keeps a
//! reserve for sending replies, projects when the budget runs out and
//! stretches the polling interval so that it lasts the stream. Pure: the
//! caller passes the time; the session persists `used` per Pacific day.

use std::time::Duration;

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, TimeZone, Utc, Weekday};

/// What a call is for: reading may not touch the send reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Read,
    Send,
}

/// The day's budget and what was spent of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Governor {
    /// The Pacific date the count belongs to (`YYYY-MM-DD`).
    pub day: String,
    pub used: u32,
    pub budget: u32,
    pub reserve: u32,
}

/// The governor's advice for the next `list` call.
#[derive(Debug, Clone, PartialEq)]
pub enum Pace {
    /// Wait this long; `slowed` when that is longer than the server asked
    /// for, because the budget would not last otherwise.
    Wait { delay: Duration, slowed: bool },
    /// Reading has spent all it may today: wait for the reset.
    Exhausted { until_reset: Duration },
}

impl Governor {
    pub fn new(day: String, used: u32, budget: u32, reserve: u32) -> Self {
        Self {
            day,
            used,
            budget,
            reserve: reserve.min(budget),
        }
    }

    /// Units reading may still spend today.
    pub fn read_left(&self) -> u32 {
        self.budget
            .saturating_sub(self.reserve)
            .saturating_sub(self.used)
    }

    /// Units left in the whole budget (reserve included).
    pub fn left(&self) -> u32 {
        self.budget.saturating_sub(self.used)
    }

    /// Whether a call costing `cost` fits without ever exceeding the budget
    /// (and, for reading, without touching the reserve).
    pub fn can_spend(&self, cost: u32, purpose: Purpose) -> bool {
        let limit = match purpose {
            Purpose::Read => self.budget.saturating_sub(self.reserve),
            Purpose::Send => self.budget,
        };
        self.used.saturating_add(cost) <= limit
    }

    /// Counts a call that was made (Google charges failed calls too).
    pub fn spend(&mut self, cost: u32) {
        self.used = self.used.saturating_add(cost);
    }

    /// Google said the quota is gone: believe it until the reset.
    pub fn exhausted(&mut self) {
        self.used = self.used.max(self.budget);
    }

    /// A new Pacific day started: the count starts over.
    pub fn roll_to(&mut self, day: &str) -> bool {
        if self.day == day {
            return false;
        }
        self.day = day.to_string();
        self.used = 0;
        true
    }

    /// The delay before the next `list` call costing `cost`. Never shorter
    /// than the server's interval; longer when reading at that rate would
    /// run the budget out before `must_last` has passed.
    pub fn pace(
        &self,
        cost: u32,
        server_interval: Duration,
        must_last: Duration,
        until_reset: Duration,
    ) -> Pace {
        let left = self.read_left();
        if left < cost.max(1) {
            return Pace::Exhausted { until_reset };
        }
        // Calls left (the next one included) spread over what must be covered.
        let calls = u64::from(left / cost.max(1));
        let span = must_last.min(until_reset);
        let needed = Duration::from_secs_f64(span.as_secs_f64() / calls as f64);
        if needed > server_interval {
            Pace::Wait {
                delay: needed,
                slowed: true,
            }
        } else {
            Pace::Wait {
                delay: server_interval,
                slowed: false,
            }
        }
    }

    /// When reading at one call of `cost` every `interval` spends the rest
    /// of the reading budget (`None`: it lasts until the reset).
    pub fn projected_end(
        &self,
        now: DateTime<Utc>,
        cost: u32,
        interval: Duration,
        until_reset: Duration,
    ) -> Option<DateTime<Utc>> {
        let calls = u64::from(self.read_left() / cost.max(1));
        let lasts = interval.as_secs_f64() * calls as f64;
        if lasts >= until_reset.as_secs_f64() {
            return None;
        }
        Some(now + ChronoDuration::milliseconds((lasts * 1000.0) as i64))
    }

    /// The short form of [`Governor::summary`] for the console header.
    pub fn header(&self, projected_end: Option<DateTime<Utc>>) -> String {
        let end = match projected_end {
            Some(t) => format!("out {} UTC", t.format("%H:%M")),
            None => "lasts to reset".to_string(),
        };
        format!(
            "quota {}/{} · {} left · {end}",
            self.used,
            self.budget,
            self.left()
        )
    }

    /// One line for the operator: used, left, and when it runs out.
    pub fn summary(&self, projected_end: Option<DateTime<Utc>>) -> String {
        let end = match projected_end {
            Some(t) => format!("runs out at {} UTC", t.format("%H:%M")),
            None => "lasts until the reset".to_string(),
        };
        format!(
            "quota {} of {} units used, {} left ({} kept for replies); {end}",
            self.used,
            self.budget,
            self.left(),
            self.reserve
        )
    }
}

/// The Pacific date of `t` (`YYYY-MM-DD`): YouTube's quota day.
pub fn pacific_day(t: DateTime<Utc>) -> String {
    (t + ChronoDuration::hours(pacific_offset_hours(t)))
        .format("%Y-%m-%d")
        .to_string()
}

/// Time until the next midnight Pacific (the quota reset).
pub fn until_pacific_midnight(t: DateTime<Utc>) -> Duration {
    let local = t + ChronoDuration::hours(pacific_offset_hours(t));
    let next_day = local.date_naive().succ_opt().unwrap_or(local.date_naive());
    let midnight_local = next_day
        .and_hms_opt(0, 0, 0)
        .map(|n| Utc.from_utc_datetime(&n));
    let Some(midnight_local) = midnight_local else {
        return Duration::from_secs(86_400);
    };
    // The local midnight as a UTC instant: the offset that holds then.
    let guess = midnight_local - ChronoDuration::hours(pacific_offset_hours(t));
    let midnight = midnight_local - ChronoDuration::hours(pacific_offset_hours(guess));
    (midnight - t).to_std().unwrap_or(Duration::from_secs(1))
}

/// UTC offset of US Pacific time at `t`: -7 in daylight time (second
/// Sunday of March 02:00 to first Sunday of November 02:00 local), else -8.
/// Hand-rolled so that one fixed rule does not pull in a time zone database.
pub fn pacific_offset_hours(t: DateTime<Utc>) -> i64 {
    let year = t.year();
    let (Some(march), Some(november)) = (
        nth_sunday(year, 3, 2).map(|d| at_utc(d, 10)),
        nth_sunday(year, 11, 1).map(|d| at_utc(d, 9)),
    ) else {
        return -8;
    };
    if t >= march && t < november { -7 } else { -8 }
}

fn at_utc(d: NaiveDate, hour: u32) -> DateTime<Utc> {
    d.and_hms_opt(hour, 0, 0)
        .map(|n| Utc.from_utc_datetime(&n))
        .unwrap_or_default()
}

fn nth_sunday(year: i32, month: u32, n: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_pacific_day_changes_at_pacific_midnight() {
        // Winter: PST = UTC-8, so 07:59 UTC is still the previous day.
        assert_eq!(pacific_day(t("2026-12-02T07:59:00Z")), "2026-12-01");
        assert_eq!(pacific_day(t("2026-12-02T08:00:00Z")), "2026-12-02");
        // Summer: PDT = UTC-7.
        assert_eq!(pacific_day(t("2026-07-02T06:59:00Z")), "2026-07-01");
        assert_eq!(pacific_day(t("2026-07-02T07:00:00Z")), "2026-07-02");
        assert_eq!(
            until_pacific_midnight(t("2026-12-02T07:00:00Z")),
            Duration::from_secs(3600)
        );
        // 2026: DST starts March 8 and ends November 1.
        assert_eq!(pacific_offset_hours(t("2026-03-08T09:59:00Z")), -8);
        assert_eq!(pacific_offset_hours(t("2026-03-08T10:00:00Z")), -7);
        assert_eq!(pacific_offset_hours(t("2026-11-01T08:59:00Z")), -7);
        assert_eq!(pacific_offset_hours(t("2026-11-01T09:00:00Z")), -8);
    }

    #[test]
    fn reading_never_touches_the_reserve_and_nothing_exceeds_the_budget() {
        let mut g = Governor::new("d".into(), 0, 100, 20);
        assert!(g.can_spend(80, Purpose::Read));
        assert!(!g.can_spend(81, Purpose::Read));
        g.spend(80);
        assert!(!g.can_spend(5, Purpose::Read));
        assert!(g.can_spend(20, Purpose::Send));
        assert!(!g.can_spend(21, Purpose::Send));
        assert_eq!(
            g.pace(
                5,
                Duration::from_secs(5),
                Duration::from_secs(60),
                Duration::from_secs(99)
            ),
            Pace::Exhausted {
                until_reset: Duration::from_secs(99)
            }
        );
    }

    #[test]
    fn polling_slows_as_the_projected_budget_shrinks() {
        let hour = Duration::from_secs(3600);
        let server = Duration::from_secs(5);
        let day = Duration::from_secs(86_400);
        // 10,000 units, 5 a call: 2000 calls over 8 h = one per 14.4 s.
        let g = Governor::new("d".into(), 0, 10_000, 0);
        let Pace::Wait { delay, slowed } = g.pace(5, server, 8 * hour, day) else {
            panic!("not exhausted")
        };
        assert!(slowed);
        assert_eq!(delay.as_secs_f64().round(), 14.0);
        // Plenty left for one more hour: the server's interval holds.
        assert_eq!(
            g.pace(5, server, hour, day),
            Pace::Wait {
                delay: server,
                slowed: false
            }
        );
        // The less is left, the longer the wait.
        let mut last = Duration::ZERO;
        for used in [0, 5_000, 9_000, 9_900] {
            let g = Governor::new("d".into(), used, 10_000, 0);
            let Pace::Wait { delay, .. } = g.pace(5, server, 8 * hour, day) else {
                panic!("not exhausted at {used}")
            };
            assert!(delay > last, "{used}: {delay:?} <= {last:?}");
            last = delay;
        }
        // A reset sooner than the stream's end: only that span must be covered.
        let g = Governor::new("d".into(), 9_000, 10_000, 0);
        assert_eq!(
            g.pace(5, server, 8 * hour, Duration::from_secs(600)),
            Pace::Wait {
                delay: server,
                slowed: false
            }
        );
    }

    #[test]
    fn a_new_day_starts_the_count_over() {
        let mut g = Governor::new("2026-12-01".into(), 700, 1000, 0);
        assert!(!g.roll_to("2026-12-01"));
        assert!(g.roll_to("2026-12-02"));
        assert_eq!(g.used, 0);
        g.exhausted();
        assert_eq!(g.left(), 0);
    }

    #[test]
    fn the_projection_says_when_the_budget_runs_out() {
        let g = Governor::new("d".into(), 9_000, 10_000, 0);
        let now = t("2026-12-02T18:00:00Z");
        // 200 calls every 5 s = 1000 s.
        let end = g.projected_end(now, 5, Duration::from_secs(5), Duration::from_secs(50_000));
        assert_eq!(end, Some(t("2026-12-02T18:16:40Z")));
        assert!(g.summary(end).contains("runs out at 18:16 UTC"));
        assert_eq!(
            g.projected_end(now, 5, Duration::from_secs(5), Duration::from_secs(900)),
            None
        );
    }
}
