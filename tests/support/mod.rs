pub mod fake_twitch_irc;
pub mod fake_twitch_oauth;
