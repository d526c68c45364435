//! Where "now" comes from, and whether slow work runs inline or beside the
//! conductor: the one place the runtime differs between a live stream and a
//! replay.

use chrono::{DateTime, Utc};

/// Which clock the runtime runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The wall clock; the core is ticked four times a second and drafts,
    /// agent pushes, avatar calls and send verdicts are awaited concurrently.
    Wall,
    /// The events' own times (never backwards). Every piece of work started
    /// for an event finishes before the next event is taken, so a replay's
    /// output is the same on every run and every machine.
    Virtual,
}

/// A [`Clock`] with the time it has reached.
#[derive(Debug, Clone)]
pub(super) struct RunClock {
    clock: Clock,
    /// The latest event time seen (virtual clock only).
    reached: Option<DateTime<Utc>>,
}

impl RunClock {
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            reached: None,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match (self.clock, self.reached) {
            (Clock::Virtual, Some(t)) => t,
            _ => Utc::now(),
        }
    }

    /// Moves the clock to an event's time (never backwards) and returns now.
    pub fn advance(&mut self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.clock == Clock::Wall {
            return Utc::now();
        }
        let now = match self.reached {
            Some(prev) if at < prev => prev,
            _ => at,
        };
        self.reached = Some(now);
        now
    }

    /// Whether the core needs ticks (wall time passes without events).
    pub fn ticks(&self) -> bool {
        self.clock == Clock::Wall
    }

    /// Whether slow work (LLM, HTTP, a send's verdict) is awaited before the
    /// next event instead of beside the conductor.
    pub fn inline(&self) -> bool {
        self.clock == Clock::Virtual
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_virtual_clock_never_runs_backwards() {
        let mut c = RunClock::new(Clock::Virtual);
        let t0 = DateTime::parse_from_rfc3339("2026-11-21T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(c.advance(t0), t0);
        assert_eq!(c.advance(t0 - chrono::Duration::seconds(5)), t0);
        assert_eq!(c.now(), t0);
        assert!(c.inline() && !c.ticks());
        let w = RunClock::new(Clock::Wall);
        assert!(w.ticks() && !w.inline());
    }
}
