//! Forms, once: a posted form is read and its CSRF token checked before the handler runs
//! ([`Checked`]), and the answer a form gets — a 303, with any cookies it sets
//! ([`see_other_setting`]).
//!
//! Invariant: a handler that takes a [`Checked`] form never runs for a post whose `csrf`
//! field is missing or not the visitor's token (cookie `sf_csrf`): the visitor gets the 403
//! page and nothing happens. (The logo upload, a multipart body, checks its field itself.)

use axum::Form;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{PageError, see_other};
use crate::AppState;
use crate::cookies::{CsrfToken, same_token};

/// A form with the hidden `csrf` field every form carries.
pub trait CsrfForm {
    fn csrf(&self) -> Option<&str>;
}

/// Implements [`CsrfForm`] for forms whose `csrf` field is an `Option<String>`.
macro_rules! csrf_form {
    ($($form:ty),+ $(,)?) => {
        $(impl $crate::pages::forms::CsrfForm for $form {
            fn csrf(&self) -> Option<&str> {
                self.csrf.as_deref()
            }
        })+
    };
}
pub(crate) use csrf_form;

/// A form of buttons: the CSRF token and nothing else.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    pub csrf: Option<String>,
}

csrf_form!(CsrfOnly);

/// `T` read from a urlencoded body, its CSRF token checked against the visitor's.
pub struct Checked<T>(pub T);

impl<T> FromRequest<AppState> for Checked<T>
where
    T: DeserializeOwned + CsrfForm + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let token = request.extensions().get::<CsrfToken>().cloned();
        let Form(form) = Form::<T>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match token {
            Some(token) if same_token(&token, form.csrf()) => Ok(Self(form)),
            _ => Err(PageError::Forbidden.into_response()),
        }
    }
}

/// A 303 to `location` that sets `cookies` (`Set-Cookie` values).
pub fn see_other_setting(
    location: &str,
    cookies: impl IntoIterator<Item = HeaderValue>,
) -> Response {
    let mut response = see_other(location);
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
