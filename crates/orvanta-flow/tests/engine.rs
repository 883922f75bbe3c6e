//! The engine driven without a database or a process: a small simulator
//! plays the worker's part (each step's result comes from a function of the
//! step id and its arguments; nested runs are advanced recursively) and
//! records every action.

use orvanta_core::openflow::FlowValue;
use orvanta_core::JobStatus;
use orvanta_flow::engine::{advance, Action, Ctx, Event, StepCode};
use orvanta_flow::{locate, Evaluator, FlowState};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};

type StepFn = dyn Fn(&str, &Map<String, Value>) -> (JobStatus, Value);

struct Sim {
    flow: FlowValue,
    step: Box<StepFn>,
    /// Every step run, as `id(args)`.
    log: Vec<String>,
    early: Option<Value>,
    ev: Evaluator,
}

/// How a run ended in the simulator.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
enum Outcome {
    Ended(JobStatus, Value),
    Suspended(FlowState),
}

impl Sim {
    fn new(flow: Value, step: impl Fn(&str, &Map<String, Value>) -> (JobStatus, Value) + 'static) -> Self {
        let flow = orvanta_flow::validate(&flow).expect("a valid flow");
        Self { flow, step: Box::new(step), log: Vec::new(), early: None, ev: Evaluator::new() }
    }

    fn run(&mut self, input: Value) -> Outcome {
        let mut state = FlowState::default();
        self.drive("", &input, &input, &Map::new(), true, &mut state, Event::Start)
    }

    fn resume(&mut self, input: Value, mut state: FlowState, payload: Value, id: u32) -> Outcome {
        let job = state.suspend.as_ref().and_then(|s| s.job).expect("a suspended step");
        self.drive("", &input, &input, &Map::new(), true, &mut state, Event::Resumed { job, resume_id: id, payload })
    }

    #[allow(clippy::too_many_arguments)]
    fn drive(
        &mut self,
        node: &str,
        input: &Value,
        previous: &Value,
        outer: &Map<String, Value>,
        root: bool,
        state: &mut FlowState,
        first: Event,
    ) -> Outcome {
        let flow = self.flow.clone();
        let list = locate::list(&flow, node).expect("a list").to_vec();
        let failure = if root { flow.failure_module.as_deref() } else { None };
        let mut events = VecDeque::from([first]);
        let mut parked: HashMap<(String, i64), Action> = HashMap::new();
        let mut children: BTreeMap<(String, i64), (JobStatus, Value)> = BTreeMap::new();
        while let Some(event) = events.pop_front() {
            let ctx = Ctx {
                flow_input: input,
                outer_results: outer,
                initial_previous: previous,
                is_root: root,
                early_return: flow.early_return.as_deref(),
                now: 1_000,
            };
            let actions = advance(&list, failure, state, event, &ctx, &self.ev);
            let mut inner_outer = outer.clone();
            inner_outer.extend(state.results());
            for a in actions {
                match a {
                    Action::RunStep { step_id, job, args, code, .. } => {
                        let shown = serde_json::to_string(&args).unwrap();
                        let tag = if code == StepCode::Inline { "" } else { "saved:" };
                        self.log.push(format!("{tag}{step_id}{shown}"));
                        let (status, result) = (self.step)(&step_id, &args);
                        events.push_back(Event::Ended { step_id, job, index: None, status, result });
                    }
                    Action::RunNested { ref step_id, index, parked: true, .. } => {
                        parked.insert((step_id.clone(), index), a.clone());
                    }
                    Action::RunNested { step_id, job, node, index, iter, previous, .. } => {
                        let (status, result) = self.nested(&node, input, iter, previous, &inner_outer);
                        children.insert((step_id.clone(), index), (status, result.clone()));
                        events.push_back(Event::Ended { step_id, job, index: Some(index), status, result });
                    }
                    Action::Activate { step_id, index } => {
                        let Some(Action::RunNested { job, node, iter, previous, .. }) =
                            parked.remove(&(step_id.clone(), index))
                        else {
                            panic!("activating {step_id}/{index}, which is not parked")
                        };
                        let (status, result) = self.nested(&node, input, iter, previous, &inner_outer);
                        children.insert((step_id.clone(), index), (status, result.clone()));
                        events.push_back(Event::Ended { step_id, job, index: Some(index), status, result });
                    }
                    Action::Collect { step_id } => {
                        let results =
                            children.iter().filter(|((s, _), _)| *s == step_id).map(|(_, r)| r.clone()).collect();
                        events.push_back(Event::Collected { step_id, results });
                    }
                    Action::RunSubflow { step_id, job, path, args, .. } => {
                        self.log.push(format!("subflow:{path}{}", serde_json::to_string(&args).unwrap()));
                        let (status, result) = (self.step)(&format!("flow:{path}"), &args);
                        events.push_back(Event::Ended { step_id, job, index: None, status, result });
                    }
                    Action::WaitWebhook { step_id, job, webhook, matches, timeout_s } => {
                        // The event that comes is the resolved matches, as an object.
                        let wanted: Map<String, Value> = matches.into_iter().collect();
                        let shown = serde_json::to_string(&wanted).unwrap();
                        self.log.push(format!("wait:{webhook}{shown}{timeout_s:?}"));
                        let result = Value::Object(wanted);
                        events.push_back(Event::Ended {
                            step_id,
                            job,
                            index: None,
                            status: JobStatus::Success,
                            result,
                        });
                    }
                    Action::EarlyReturn { result } => self.early = Some(result),
                    Action::Suspend { .. } => return Outcome::Suspended(state.clone()),
                    Action::End { status, result } => return Outcome::Ended(status, result),
                }
            }
        }
        match state.suspend {
            Some(_) => Outcome::Suspended(state.clone()),
            None => panic!("the run neither ended nor waits: {state:?}"),
        }
    }

    fn nested(
        &mut self,
        node: &str,
        input: &Value,
        iter: Option<Value>,
        previous: Value,
        outer: &Map<String, Value>,
    ) -> (JobStatus, Value) {
        let mut input = input.clone();
        if let (Some(iter), Some(o)) = (iter, input.as_object_mut()) {
            o.insert("iter".into(), iter);
        }
        let mut state = FlowState::default();
        match self.drive(node, &input, &previous, outer, false, &mut state, Event::Start) {
            Outcome::Ended(s, r) => (s, r),
            Outcome::Suspended(_) => panic!("nested suspends are not simulated"),
        }
    }
}

fn raw(id: &str, transforms: Value) -> Value {
    json!({"id": id, "value": {"type": "rawscript", "language": "python3", "content": "def main(**kw): pass",
        "input_transforms": transforms}})
}

fn js(expr: &str) -> Value {
    json!({"type": "javascript", "expr": expr})
}

/// Each step answers `{"step": id, "args": args}`, except as overridden.
fn echo(id: &str, args: &Map<String, Value>) -> (JobStatus, Value) {
    (JobStatus::Success, json!({"step": id, "args": args}))
}

#[test]
fn sequential_steps_pass_results_on() {
    let flow = json!({"modules": [
        raw("a", json!({"x": js("flow_input.n + 1")})),
        raw("b", json!({"y": js("previous_result.args.x * 10"), "z": js("results.a.step")})),
    ]});
    let mut sim = Sim::new(flow, echo);
    let out = sim.run(json!({"n": 1}));
    assert_eq!(out, Outcome::Ended(JobStatus::Success, json!({"step": "b", "args": {"y": 20, "z": "a"}})));
    assert_eq!(sim.log, [r#"a{"x":2}"#, r#"b{"y":20,"z":"a"}"#]);
}

#[test]
fn for_loops_run_each_item_and_collect_in_order() {
    let flow = json!({"modules": [
        {"id": "l", "value": {"type": "forloopflow", "iterator": js("flow_input.items"), "parallel": true,
          "parallelism": 2, "skip_failures": false,
          "modules": [raw("inner", json!({"v": js("flow_input.iter.value"), "i": js("flow_input.iter.index")}))]}},
        raw("after", json!({"all": js("results.l.map(r => r.args.v)")})),
    ]});
    let mut sim = Sim::new(flow, echo);
    let out = sim.run(json!({"items": ["a", "b", "c"]}));
    assert_eq!(out, Outcome::Ended(JobStatus::Success, json!({"step": "after", "args": {"all": ["a", "b", "c"]}})));
    assert_eq!(sim.log.len(), 4);
    let empty = Sim::new(
        json!({"modules": [{"id": "l", "value": {"type": "forloopflow", "iterator": js("[]"), "modules": []}}]}),
        echo,
    )
    .run(json!({}));
    assert_eq!(empty, Outcome::Ended(JobStatus::Success, json!([])));
}

#[test]
fn a_loop_over_a_non_array_fails_clearly() {
    let flow = json!({"modules": [{"id": "l", "value": {"type": "forloopflow", "iterator": js("flow_input.n"),
        "modules": [raw("x", json!({}))]}}]});
    let Outcome::Ended(JobStatus::Failure, e) = Sim::new(flow, echo).run(json!({"n": 5})) else { panic!() };
    assert_eq!(e["error"]["step_id"], "l");
    assert!(e["error"]["message"].as_str().unwrap().contains("array"), "{e}");
}

#[test]
fn a_failed_iteration_fails_the_loop_unless_skipped() {
    let fail_b = |id: &str, args: &Map<String, Value>| {
        if args["v"] == "b" {
            (JobStatus::Failure, json!({"error": {"name": "E", "message": "bad b"}}))
        } else {
            echo(id, args)
        }
    };
    let body = json!([raw("x", json!({"v": js("flow_input.iter.value")}))]);
    let flow = json!({"modules": [{"id": "l", "value": {"type": "forloopflow", "iterator": js("['a','b','c']"),
        "skip_failures": false, "modules": body}}]});
    let Outcome::Ended(JobStatus::Failure, e) = Sim::new(flow, fail_b).run(json!({})) else { panic!() };
    assert_eq!(e["error"]["step_id"], "l", "{e}");
    let flow = json!({"modules": [{"id": "l", "value": {"type": "forloopflow", "iterator": js("['a','b','c']"),
        "skip_failures": true, "modules": body}}]});
    let Outcome::Ended(JobStatus::Success, r) = Sim::new(flow, fail_b).run(json!({})) else { panic!() };
    assert_eq!(r.as_array().unwrap().len(), 3);
    assert_eq!(r[1]["error"]["message"], "bad b");
}

#[test]
fn while_loops_run_until_stop_after_if() {
    let flow = json!({"modules": [{"id": "w", "stop_after_if": {"expr": "result.args.i >= 3"},
        "value": {"type": "whileloopflow", "modules": [raw("x", json!({"i": js("flow_input.iter.index")}))]}}]});
    let mut sim = Sim::new(flow, echo);
    let Outcome::Ended(JobStatus::Success, r) = sim.run(json!({})) else { panic!() };
    assert_eq!(sim.log.len(), 4);
    assert_eq!(r.as_array().unwrap().len(), 4, "{r}");
}

#[test]
fn branchone_takes_the_first_true_branch_else_default() {
    let flow = json!({"modules": [{"id": "b", "value": {"type": "branchone",
        "branches": [{"expr": "flow_input.n > 10", "modules": [raw("big", json!({}))]},
                     {"expr": "flow_input.n > 5", "modules": [raw("mid", json!({}))]}],
        "default": [raw("small", json!({}))]}}]});
    for (n, want) in [(20, "big"), (7, "mid"), (1, "small")] {
        let Outcome::Ended(JobStatus::Success, r) = Sim::new(flow.clone(), echo).run(json!({"n": n})) else { panic!() };
        assert_eq!(r["step"], want);
    }
}

#[test]
fn branchall_collects_every_branch() {
    let flow = json!({"modules": [{"id": "b", "value": {"type": "branchall", "parallel": false,
        "branches": [{"modules": [raw("p", json!({}))]}, {"modules": [raw("q", json!({}))]}]}}]});
    let Outcome::Ended(JobStatus::Success, r) = Sim::new(flow, echo).run(json!({})) else { panic!() };
    assert_eq!(r.as_array().unwrap().iter().map(|v| v["step"].clone()).collect::<Vec<_>>(), [json!("p"), json!("q")]);
}

#[test]
fn skip_if_stop_after_if_and_identity() {
    let flow = json!({"modules": [
        raw("a", json!({})),
        {"id": "s", "skip_if": {"expr": "true"}, "value": {"type": "rawscript", "language": "bash", "content": ""}},
        {"id": "i", "value": {"type": "identity"}},
        {"id": "stop", "stop_after_if": {"expr": "result.step === 'stop'"}, "value": {"type": "rawscript", "language": "bash", "content": ""}},
        raw("never", json!({})),
    ]});
    let mut sim = Sim::new(flow, echo);
    let out = sim.run(json!({}));
    assert_eq!(out, Outcome::Ended(JobStatus::Success, json!({"step": "stop", "args": {}})));
    assert_eq!(sim.log, ["a{}", "stop{}"], "the skipped step and the one after the stop did not run");
}

#[test]
fn retries_then_continue_on_error_then_failure_module() {
    use std::cell::Cell;
    use std::rc::Rc;
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let flaky = move |id: &str, args: &Map<String, Value>| {
        if id == "flaky" {
            c.set(c.get() + 1);
            if c.get() < 3 {
                return (JobStatus::Failure, json!({"error": {"name": "E", "message": "try again"}}));
            }
        }
        if id == "bad" {
            return (JobStatus::Failure, json!({"error": {"name": "E", "message": "always"}}));
        }
        echo(id, args)
    };
    let flow = json!({"modules": [
        {"id": "flaky", "retry": {"constant": {"attempts": 2, "seconds": 0}},
         "value": {"type": "rawscript", "language": "bash", "content": ""}},
        {"id": "tolerant", "continue_on_error": true, "value": {"type": "script", "path": "u/admin/bad"}},
        raw("bad", json!({})),
    ], "failure_module": raw("failure", json!({"seen": js("previous_result.error.message")}))});
    let mut sim = Sim::new(flow, move |id: &str, args: &Map<String, Value>| {
        let id = if id == "tolerant" { "bad" } else { id };
        flaky(id, args)
    });
    let out = sim.run(json!({}));
    assert_eq!(calls.get(), 3, "two retries");
    let Outcome::Ended(JobStatus::Failure, r) = out else { panic!("{out:?}") };
    assert_eq!(r, json!({"step": "failure", "args": {"seen": "always"}}));
    assert!(sim.log.contains(&"saved:tolerant{}".to_owned()));
}

#[test]
fn transform_errors_name_the_step_and_argument() {
    let flow = json!({"modules": [raw("a", json!({"x": js("flow_input.missing.deep")}))]});
    let Outcome::Ended(JobStatus::Failure, e) = Sim::new(flow, echo).run(json!({})) else { panic!() };
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("step 'a'") && msg.contains("argument 'x'") && msg.contains("flow_input.missing.deep"),
        "{msg}"
    );
    let forever = json!({"modules": [raw("a", json!({"x": js("(() => { while (true) {} })()")}))]});
    let Outcome::Ended(JobStatus::Failure, e) = Sim::new(forever, echo).run(json!({})) else { panic!() };
    assert!(e["error"]["message"].as_str().unwrap().contains("stopped"), "{e}");
}

#[test]
fn suspend_waits_for_its_events_and_resume_is_seen() {
    let flow = json!({"modules": [
        {"id": "ask", "suspend": {"required_events": 2, "timeout": 60}, "value": {"type": "rawscript", "language": "bash", "content": ""}},
        raw("after", json!({"r": js("resume"), "all": js("resumes.length")})),
    ]});
    let mut sim = Sim::new(flow, echo);
    let Outcome::Suspended(state) = sim.run(json!({})) else { panic!() };
    assert_eq!(state.suspend.as_ref().unwrap().until, Some(61_000));
    let Outcome::Suspended(state) = sim.resume(json!({}), state, json!({"ok": 1}), 7) else { panic!() };
    let mut dup = state.clone();
    let ctx_input = json!({});
    let ev = Evaluator::new();
    let ctx = Ctx {
        flow_input: &ctx_input,
        outer_results: &Map::new(),
        initial_previous: &ctx_input,
        is_root: true,
        early_return: None,
        now: 2_000,
    };
    let list = sim.flow.modules.clone();
    let job = dup.suspend.as_ref().and_then(|s| s.job).unwrap();
    let none = advance(&list, None, &mut dup, Event::Resumed { job, resume_id: 7, payload: json!(0) }, &ctx, &ev);
    assert!(none.is_empty(), "a resume id counts once");
    let out = sim.resume(json!({}), state, json!({"ok": 2}), 8);
    assert_eq!(out, Outcome::Ended(JobStatus::Success, json!({"step": "after", "args": {"r": {"ok": 2}, "all": 2}})));
}

#[test]
fn early_return_and_stream_target() {
    let flow = json!({"modules": [raw("a", json!({})), raw("b", json!({}))], "early_return": "a"});
    let mut sim = Sim::new(flow, echo);
    let out = sim.run(json!({}));
    assert_eq!(sim.early, Some(json!({"step": "a", "args": {}})));
    assert_eq!(out, Outcome::Ended(JobStatus::Success, json!({"step": "b", "args": {}})));
}

#[test]
fn stale_and_duplicate_events_change_nothing() {
    let flow = FlowValue::parse(&json!({"modules": [raw("a", json!({})), raw("b", json!({}))]})).unwrap();
    let ev = Evaluator::new();
    let input = json!({});
    let ctx = Ctx {
        flow_input: &input,
        outer_results: &Map::new(),
        initial_previous: &input,
        is_root: true,
        early_return: None,
        now: 0,
    };
    let mut state = FlowState::default();
    let actions = advance(&flow.modules, None, &mut state, Event::Start, &ctx, &ev);
    let Some(Action::RunStep { job, .. }) = actions.first().cloned() else { panic!() };
    let done = Event::Ended { step_id: "a".into(), job, index: None, status: JobStatus::Success, result: json!(1) };
    let next = advance(&flow.modules, None, &mut state, done.clone(), &ctx, &ev);
    assert!(matches!(&next[..], [Action::RunStep { step_id, .. }] if step_id == "b"));
    let before = state.clone();
    assert!(advance(&flow.modules, None, &mut state, done, &ctx, &ev).is_empty(), "the same end twice");
    let other = Event::Ended {
        step_id: "b".into(),
        job: orvanta_core::JobId::new(),
        index: None,
        status: JobStatus::Success,
        result: json!(2),
    };
    assert!(advance(&flow.modules, None, &mut state, other, &ctx, &ev).is_empty(), "another job of b");
    assert_eq!(state, before);
}

#[test]
fn a_resume_that_comes_while_its_step_runs_counts_when_it_ends() {
    let flow = FlowValue::parse(&json!({"modules": [
        {"id": "ask", "suspend": {"required_events": 1}, "value": {"type": "rawscript", "language": "bash", "content": ""}},
        raw("after", json!({"r": js("resume")})),
    ]}))
    .unwrap();
    let ev = Evaluator::new();
    let input = json!({});
    let ctx = Ctx {
        flow_input: &input,
        outer_results: &Map::new(),
        initial_previous: &input,
        is_root: true,
        early_return: None,
        now: 0,
    };
    let mut state = FlowState::default();
    let Some(Action::RunStep { job, .. }) = advance(&flow.modules, None, &mut state, Event::Start, &ctx, &ev).pop()
    else {
        panic!()
    };
    use orvanta_flow::state::ResumeCheck;
    assert_eq!(state.resume_check(job, 1), ResumeCheck::Accept);
    assert!(advance(
        &flow.modules,
        None,
        &mut state,
        Event::Resumed { job, resume_id: 1, payload: json!("yes") },
        &ctx,
        &ev
    )
    .is_empty());
    assert_eq!(state.resume_check(job, 1), ResumeCheck::AlreadyUsed);
    let done = Event::Ended { step_id: "ask".into(), job, index: None, status: JobStatus::Success, result: json!(0) };
    let next = advance(&flow.modules, None, &mut state, done, &ctx, &ev);
    assert!(
        matches!(&next[..], [Action::RunStep { step_id, args, .. }] if step_id == "after" && args["r"] == "yes"),
        "{next:?}"
    );
    assert_eq!(state.resume_check(orvanta_core::JobId::new(), 2), ResumeCheck::NotWaiting);
}

#[test]
fn a_webhook_wait_resolves_its_matches_when_it_starts_and_its_event_is_its_result() {
    let flow = json!({"modules": [
        {"id": "w", "value": {"type": "waitforwebhook", "webhook": "gh",
            "matches": {"$.pr": js("flow_input.pr"), "$.action": "opened"}, "timeout_s": 30}},
        raw("b", json!({"got": js("results.w[\"$.pr\"]")})),
    ]});
    let mut sim = Sim::new(flow, echo);
    let out = sim.run(json!({"pr": 7}));
    assert_eq!(out, Outcome::Ended(JobStatus::Success, json!({"step": "b", "args": {"got": 7}})));
    assert_eq!(sim.log, [r#"wait:gh{"$.pr":7,"$.action":"opened"}Some(30)"#, r#"b{"got":7}"#]);
}
