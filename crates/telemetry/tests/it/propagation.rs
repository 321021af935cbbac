use std::collections::BTreeMap;

use telemetry::propagation::{
    current_trace_id, inject_current, inject_http, set_parent_from, set_parent_from_http,
};

use crate::{REMOTE_TRACE_ID, REMOTE_TRACEPARENT, init, parse_traceparent};

#[test]
fn inject_writes_w3c_traceparent_matching_current_trace() {
    init();
    let span = tracing::info_span!("producer");
    let _entered = span.enter();

    let mut headers = BTreeMap::new();
    inject_current(&mut headers);

    let tp = headers.get("traceparent").expect("traceparent injected");
    let (trace_id, _) = parse_traceparent(tp);
    assert_eq!(Some(trace_id), current_trace_id());
}

#[test]
fn no_span_means_no_trace_id_and_no_header() {
    init();
    assert_eq!(current_trace_id(), None);
    let mut headers = BTreeMap::new();
    inject_current(&mut headers);
    assert!(headers.is_empty(), "unexpected headers {headers:?}");
}

#[test]
fn known_traceparent_becomes_parent() {
    init();
    let headers = BTreeMap::from([
        ("traceparent".to_owned(), REMOTE_TRACEPARENT.to_owned()),
        ("tracestate".to_owned(), "vendor=value".to_owned()),
    ]);
    let span = tracing::info_span!("consumer");
    set_parent_from(&span, &headers);
    // Known before the span is entered, so a consumer can log it as a field.
    assert_eq!(
        telemetry::propagation::trace_id_of(&span).as_deref(),
        Some(REMOTE_TRACE_ID)
    );
    let _entered = span.enter();

    assert_eq!(current_trace_id().as_deref(), Some(REMOTE_TRACE_ID));
    // tracestate is carried along when the trace is propagated further.
    let mut out = BTreeMap::new();
    inject_current(&mut out);
    assert_eq!(
        out.get("tracestate").map(String::as_str),
        Some("vendor=value")
    );
    let (_, span_id) = parse_traceparent(&out["traceparent"]);
    assert_ne!(
        span_id, "00f067aa0ba902b7",
        "child must have its own span id"
    );
}

#[test]
fn map_round_trip_keeps_trace_changes_span() {
    init();
    let mut headers = BTreeMap::new();
    let (trace_a, span_a) = {
        let a = tracing::info_span!("a");
        let _entered = a.enter();
        inject_current(&mut headers);
        (
            current_trace_id().expect("span a has a trace"),
            parse_traceparent(&headers["traceparent"]).1,
        )
    };

    let b = tracing::info_span!("b");
    set_parent_from(&b, &headers);
    let _entered = b.enter();
    let mut out = BTreeMap::new();
    inject_current(&mut out);
    let (trace_b, span_b) = parse_traceparent(&out["traceparent"]);

    assert_eq!(trace_b, trace_a);
    assert_ne!(span_b, span_a);
}

#[test]
fn unrelated_spans_get_distinct_traces() {
    init();
    let first = tracing::info_span!("first").in_scope(current_trace_id);
    let second = tracing::info_span!("second").in_scope(current_trace_id);
    assert!(first.is_some() && second.is_some());
    assert_ne!(first, second);
}

#[test]
fn garbage_traceparent_is_ignored() {
    init();
    let headers = BTreeMap::from([("traceparent".to_owned(), "not-a-trace".to_owned())]);
    let span = tracing::info_span!("consumer");
    set_parent_from(&span, &headers);
    let id = span.in_scope(current_trace_id).expect("fresh trace");
    assert_ne!(id, REMOTE_TRACE_ID);
    assert_eq!(id.len(), 32);
}

#[test]
fn header_map_round_trip_keeps_trace_changes_span() {
    init();
    let mut headers = http::HeaderMap::new();
    let (trace_a, span_a) = tracing::info_span!("client").in_scope(|| {
        inject_http(&mut headers);
        let tp = headers
            .get("traceparent")
            .expect("traceparent injected")
            .to_str()
            .expect("ascii");
        let (trace, span) = parse_traceparent(tp);
        assert_eq!(Some(trace.clone()), current_trace_id());
        (trace, span)
    });

    let server = tracing::info_span!("server");
    set_parent_from_http(&server, &headers);
    let (trace_b, span_b) = server.in_scope(|| {
        let mut out = http::HeaderMap::new();
        inject_http(&mut out);
        parse_traceparent(out["traceparent"].to_str().expect("ascii"))
    });

    assert_eq!(trace_b, trace_a);
    assert_ne!(span_b, span_a);
}
