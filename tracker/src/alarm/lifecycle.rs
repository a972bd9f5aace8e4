//! An alarm's lifecycle, pure: open → acknowledged → resolved or dismissed (误报, a false
//! alarm); an open alarm may be resolved or dismissed directly. Closing needs a handling record:
//! an [`Outcome`] from a fixed list and a [`Note`]. A closed alarm never changes again.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Where an alarm is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Open,
    Acknowledged,
    Resolved,
    Dismissed,
}

impl State {
    pub const ALL: [State; 4] = [State::Open, State::Acknowledged, State::Resolved, State::Dismissed];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Acknowledged => "acknowledged",
            State::Resolved => "resolved",
            State::Dismissed => "dismissed",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            State::Open => "待处置",
            State::Acknowledged => "已签收",
            State::Resolved => "已处置",
            State::Dismissed => "误报",
        }
    }

    pub fn is_closed(self) -> bool {
        matches!(self, State::Resolved | State::Dismissed)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        State::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownName::new("state", s))
    }
}

/// How staff handled an alarm: the fixed list of handling outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    PhoneVerified,
    VideoVerified,
    Visited,
    Summoned,
    DeviceFault,
    Admonished,
    Warned,
    PoliceReferral,
    Other,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::PhoneVerified,
        Outcome::VideoVerified,
        Outcome::Visited,
        Outcome::Summoned,
        Outcome::DeviceFault,
        Outcome::Admonished,
        Outcome::Warned,
        Outcome::PoliceReferral,
        Outcome::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Outcome::PhoneVerified => "phone_verified",
            Outcome::VideoVerified => "video_verified",
            Outcome::Visited => "visited",
            Outcome::Summoned => "summoned",
            Outcome::DeviceFault => "device_fault",
            Outcome::Admonished => "admonished",
            Outcome::Warned => "warned",
            Outcome::PoliceReferral => "police_referral",
            Outcome::Other => "other",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Outcome::PhoneVerified => "电话核实",
            Outcome::VideoVerified => "视频核查",
            Outcome::Visited => "实地查访",
            Outcome::Summoned => "责令到所报告",
            Outcome::DeviceFault => "设备或信号原因（误报）",
            Outcome::Admonished => "训诫",
            Outcome::Warned => "警告",
            Outcome::PoliceReferral => "提请治安管理处罚",
            Outcome::Other => "其他",
        }
    }
}

impl FromStr for Outcome {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Outcome::ALL.into_iter().find(|o| o.code() == s).ok_or_else(|| UnknownName::new("outcome", s))
    }
}

/// A name not on a fixed list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {given:?} is not one of: {choices}")]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub choices: String,
}

impl UnknownName {
    fn new(what: &'static str, given: &str) -> Self {
        let choices = match what {
            "outcome" => Outcome::ALL.iter().map(|o| o.code()).collect::<Vec<_>>().join(", "),
            "state" => State::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            _ => String::new(),
        };
        UnknownName { what, given: given.chars().take(64).collect(), choices }
    }
}

/// The shortest handling note, in characters (a Chinese character counts as one).
pub const MIN_NOTE_CHARS: usize = 5;
/// The longest handling note, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// A handling note: trimmed, 5 to 2000 characters, storable text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note(String);

/// Why a note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("a handling note is required (at least {MIN_NOTE_CHARS} characters), got {0}")]
    TooShort(usize),
    #[error("a handling note has at most {MAX_NOTE_CHARS} characters, got {0}")]
    TooLong(usize),
    #[error("a handling note cannot contain control characters")]
    ControlCharacter,
}

impl Note {
    pub fn parse(text: &str) -> Result<Note, NoteError> {
        let text = text.trim();
        let n = text.chars().count();
        if n < MIN_NOTE_CHARS {
            return Err(NoteError::TooShort(n));
        }
        if n > MAX_NOTE_CHARS {
            return Err(NoteError::TooLong(n));
        }
        if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(NoteError::ControlCharacter);
        }
        Ok(Note(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A handling record: how and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handling {
    pub outcome: Outcome,
    pub note: Note,
}

/// What staff do to an alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// 签收: seen and being handled.
    Acknowledge,
    /// 处置: handled, with its record.
    Resolve(Handling),
    /// 误报: a false alarm, with its record.
    Dismiss(Handling),
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledge",
            Action::Resolve(_) => "resolve",
            Action::Dismiss(_) => "dismiss",
        }
    }
}

/// A transition that is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the alarm is already {0} and can no longer change")]
    Closed(State),
    #[error("the alarm is already acknowledged")]
    AlreadyAcknowledged,
}

/// The state after `action` on an alarm in `from`.
pub fn transition(from: State, action: &Action) -> Result<State, TransitionError> {
    match (from, action) {
        (State::Resolved | State::Dismissed, _) => Err(TransitionError::Closed(from)),
        (State::Acknowledged, Action::Acknowledge) => Err(TransitionError::AlreadyAcknowledged),
        (State::Open, Action::Acknowledge) => Ok(State::Acknowledged),
        (State::Open | State::Acknowledged, Action::Resolve(_)) => Ok(State::Resolved),
        (State::Open | State::Acknowledged, Action::Dismiss(_)) => Ok(State::Dismissed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handling() -> Handling {
        Handling { outcome: Outcome::PhoneVerified, note: Note::parse("电话核实：本人在家").unwrap() }
    }

    #[test]
    fn every_transition_allowed_or_refused() {
        use State::*;
        let ack = Action::Acknowledge;
        let resolve = Action::Resolve(handling());
        let dismiss = Action::Dismiss(handling());
        let table: [(State, &Action, Result<State, TransitionError>); 12] = [
            (Open, &ack, Ok(Acknowledged)),
            (Open, &resolve, Ok(Resolved)),
            (Open, &dismiss, Ok(Dismissed)),
            (Acknowledged, &ack, Err(TransitionError::AlreadyAcknowledged)),
            (Acknowledged, &resolve, Ok(Resolved)),
            (Acknowledged, &dismiss, Ok(Dismissed)),
            (Resolved, &ack, Err(TransitionError::Closed(Resolved))),
            (Resolved, &resolve, Err(TransitionError::Closed(Resolved))),
            (Resolved, &dismiss, Err(TransitionError::Closed(Resolved))),
            (Dismissed, &ack, Err(TransitionError::Closed(Dismissed))),
            (Dismissed, &resolve, Err(TransitionError::Closed(Dismissed))),
            (Dismissed, &dismiss, Err(TransitionError::Closed(Dismissed))),
        ];
        for (from, action, want) in table {
            assert_eq!(transition(from, action), want, "{from} + {}", action.name());
        }
    }

    #[test]
    fn notes_count_characters_not_bytes() {
        assert_eq!(Note::parse("电话核实").unwrap_err(), NoteError::TooShort(4));
        assert_eq!(Note::parse("  已核实无误  ").unwrap().as_str(), "已核实无误");
        assert_eq!(Note::parse("ok   ").unwrap_err(), NoteError::TooShort(2));
        assert_eq!(Note::parse("").unwrap_err(), NoteError::TooShort(0));
        assert_eq!(Note::parse("fine.").unwrap().as_str(), "fine.");
        assert_eq!(Note::parse(&"核".repeat(2001)).unwrap_err(), NoteError::TooLong(2001));
        assert_eq!(Note::parse("本人\0在家核实").unwrap_err(), NoteError::ControlCharacter);
        assert!(Note::parse("第一行\n第二行").is_ok());
    }

    #[test]
    fn outcomes_round_trip_and_unknown_ones_are_named() {
        for o in Outcome::ALL {
            assert_eq!(o.code().parse::<Outcome>().unwrap(), o);
            assert!(!o.label_zh().is_empty());
        }
        assert_eq!(Outcome::DeviceFault.label_zh(), "设备或信号原因（误报）");
        let err = "called".parse::<Outcome>().unwrap_err();
        assert!(err.to_string().contains("phone_verified") && err.to_string().contains("\"called\""), "{err}");
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>().unwrap(), s);
        }
    }
}
