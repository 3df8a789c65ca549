//! The experiment's fields as flags of `lottery-lab run`, made from the one table that links
//! read too ([`lottery_lab::experiment::fields::FIELDS`]): the same names, values, messages
//! and checks; a new field there is a new flag here.

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use lottery_lab::experiment::fields::{self, FIELDS, Flag};
use lottery_lab::experiment::link::Problem;

/// The field flags given, as `(link key, value)` in command-line order (a later one wins,
/// as in a link).
#[derive(Clone, Debug, Default)]
pub struct FieldFlags {
    pub pairs: Vec<(String, String)>,
}

impl FromArgMatches for FieldFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Vec::new();
        for field in FIELDS {
            let Some(name) = field.flag.name() else {
                continue;
            };
            if let (Some(values), Some(indices)) =
                (matches.get_many::<String>(name), matches.indices_of(name))
            {
                for (value, index) in values.zip(indices) {
                    given.push((index, field.key.to_string(), value.clone()));
                }
            }
        }
        given.sort_by_key(|(index, _, _)| *index);
        Ok(Self {
            pairs: given.into_iter().map(|(_, k, v)| (k, v)).collect(),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for FieldFlags {
    fn augment_args(command: Command) -> Command {
        FIELDS.iter().fold(command, |command, field| {
            let help = format!("{} [{}]", field.help.replace('`', ""), field.values);
            match field.flag {
                Flag::None => command,
                Flag::Value(name) => command.arg(
                    Arg::new(name)
                        .long(name)
                        .value_name("VALUE")
                        .action(ArgAction::Append)
                        .help(help),
                ),
                Flag::Switch(name) => command.arg(
                    Arg::new(name)
                        .long(name)
                        .num_args(0..=1)
                        .require_equals(true)
                        .default_missing_value("1")
                        .action(ArgAction::Append)
                        .help(help),
                ),
            }
        })
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

/// Flags that cannot be taken: the run does not start (exit code 2, as for clap's errors).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadFlags(pub String);

/// A problem with a flag, in the CLI's words (a link's notice says "kept the preset's value";
/// the CLI stops instead).
pub fn describe(problem: &Problem) -> String {
    match problem {
        Problem::Unreadable { key, value, values } => {
            let flag = fields::find(key).and_then(|f| f.flag.name()).unwrap_or(key);
            format!("--{flag}: '{value}' is not {values}")
        }
        Problem::Invalid(e) => format!("the flags give an invalid experiment: {e}"),
        Problem::Unknown { key } => format!("unknown field '{key}'"),
        Problem::Unrepairable => "the flags give an invalid experiment".into(),
    }
}
