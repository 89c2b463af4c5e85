//! The console, through the pages a browser gets: forms, cookies, redirects
//! and the emails LocalStack's SES received. A `Browser` keeps cookies the way a
//! browser does for one site, so tests can also leave them out.

mod accounts;
mod api_keys;
mod browser;
mod campaigns;
mod conversations;
mod customers;
mod forms;
mod in_chromium;
mod leads;
mod media;
mod messages;
mod oidc;
mod proxies;
mod reset;
mod routes;
mod send;
mod smtp;
mod team;
mod templates;
mod traces;
