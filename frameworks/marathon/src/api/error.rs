//! Error answers in Marathon's shapes: `{"message": …, "details": …}`, always JSON.

use super::backend::BackendError;
use crate::model::PathId;
use crate::store::StoreError;
use crate::validate::{details, Violation};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// An error answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({ "message": message.into() }),
        }
    }

    /// 422 `Object is not valid` with details grouped by path.
    pub fn invalid(violations: &[Violation]) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({ "message": "Object is not valid", "details": details(violations) }),
        }
    }

    /// 422 `Invalid JSON` for values of the wrong type (play-json codes per path).
    pub fn invalid_json(violations: &[Violation]) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({ "message": "Invalid JSON", "details": details(violations) }),
        }
    }

    /// 400 for a body that is not JSON.
    pub fn malformed(parser_message: &str) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body: json!({ "message": "Invalid JSON", "details": parser_message }),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn app_not_found(id: &PathId) -> ApiError {
        ApiError::not_found(format!("App '{id}' does not exist"))
    }

    pub fn group_not_found(id: &PathId) -> ApiError {
        ApiError::not_found(format!("Group '{id}' does not exist"))
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> ApiError {
        let message = e.to_string();
        match e {
            BackendError::Locked { deployment_ids } => {
                let message = match deployment_ids.first() {
                    Some(id) => message.replace("<DEPLOYMENT_ID>", id),
                    None => message,
                };
                let deployments: Vec<Value> = deployment_ids
                    .iter()
                    .map(|id| json!({ "id": id }))
                    .collect();
                ApiError {
                    status: StatusCode::CONFLICT,
                    body: json!({ "message": message, "deployments": deployments }),
                }
            }
            BackendError::TooManyDeployments(_) => ApiError::new(StatusCode::FORBIDDEN, message),
            BackendError::UnknownDeployment(_)
            | BackendError::UnknownTask(_)
            | BackendError::NotInQueue(_) => ApiError::not_found(message),
            BackendError::Unavailable(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "marathon store failed");
        ApiError::internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// Handler result.
pub type ApiResult<T = Response> = Result<T, ApiError>;
