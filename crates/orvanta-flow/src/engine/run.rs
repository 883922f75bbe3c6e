//! How a flow run reacts to each event: starting modules, their steps and
//! iterations, their ends, retries and failures (the state machine behind
//! [`super::advance`]).

use super::*;

impl Run<'_, '_> {
    pub(super) fn on(&mut self, event: Event) {
        match event {
            Event::Start => {
                self.state.step = 0;
                self.proceed();
            }
            Event::Ended { step_id, job, index, status, result } => self.ended(&step_id, job, index, status, result),
            Event::Collected { step_id, results } => self.collected(&step_id, results),
            Event::Resumed { job, resume_id, payload } => self.resumed(job, resume_id, payload),
            Event::TimedOut => {
                if let Some(s) = self.state.suspend.take() {
                    let id = self.list.get(s.module).map(|m| m.id.clone()).unwrap_or_default();
                    let message = format!("step '{id}' was not resumed in time: the flow is canceled");
                    self.end(JobStatus::Canceled, flow_error(&id, "Canceled", message));
                }
            }
        }
    }

    /// `previous_result` for the module at `i`.
    fn previous(&self, i: usize) -> Value {
        (0..i)
            .rev()
            .find_map(|k| self.state.modules.get(k).and_then(|m| m.result.clone()))
            .unwrap_or_else(|| self.ctx.initial_previous.clone())
    }

    fn scope(&self, i: usize) -> Scope {
        let mut results = self.ctx.outer_results.clone();
        results.extend(self.state.results());
        let resume = self.state.resumes.last().cloned().unwrap_or(Value::Null);
        Scope::default()
            .with("flow_input", self.ctx.flow_input.clone())
            .with("results", Value::Object(results))
            .with("previous_result", self.previous(i))
            .with("resume", resume)
            .with("resumes", Value::Array(self.state.resumes.clone()))
            .with("error", self.state.error.clone().unwrap_or(Value::Null))
    }

    fn eval(&self, scope: &Scope, t: &InputTransform) -> Result<Value, ExprError> {
        match t {
            InputTransform::Static { value } => Ok(value.clone()),
            InputTransform::Javascript { expr } => self.ev.eval(expr, scope),
        }
    }

    /// Evaluates `what` of module `id`, or fails the flow with an error naming them.
    fn eval_or_fail(&mut self, i: usize, what: &str, t: &InputTransform) -> Option<Value> {
        let scope = self.scope(i);
        match self.eval(&scope, t) {
            Ok(v) => Some(v),
            Err(e) => {
                let id = self.list[i].id.clone();
                let shown = match t {
                    InputTransform::Javascript { expr } => format!(" `{}`", expr.chars().take(200).collect::<String>()),
                    InputTransform::Static { .. } => String::new(),
                };
                let message = format!("step '{id}', {what}: the expression{shown} {e}");
                self.fail_module(i, flow_error(&id, "InputTransformError", message));
                None
            }
        }
    }

    fn args(&mut self, i: usize, transforms: &Transforms) -> Option<Map<String, Value>> {
        let mut args = Map::new();
        for (name, t) in transforms {
            let v = self.eval_or_fail(i, &format!("argument '{name}'"), t)?;
            args.insert(name.clone(), v);
        }
        Some(args)
    }

    /// Seconds from a transform (`sleep`, `timeout`), or the failure already reported.
    fn seconds(&mut self, i: usize, what: &str, t: Option<&InputTransform>) -> Option<Option<f64>> {
        let Some(t) = t else { return Some(None) };
        let v = self.eval_or_fail(i, what, t)?;
        match v {
            Value::Null => Some(None),
            Value::Number(n) if n.as_f64().is_some_and(|f| f >= 0.0) => Some(n.as_f64()),
            other => {
                let id = self.list[i].id.clone();
                let message = format!("step '{id}': {what} must be a number of seconds, not {other}");
                self.fail_module(i, flow_error(&id, "InputTransformError", message));
                None
            }
        }
    }

    fn set_module(&mut self, i: usize, m: ModuleState) {
        if self.state.modules.len() > i {
            self.state.modules[i] = m;
        } else {
            while self.state.modules.len() < i {
                let id = self.list[self.state.modules.len()].id.clone();
                self.state.modules.push(ModuleState::new(&id, self.ctx.now));
            }
            self.state.modules.push(m);
        }
    }

    /// Runs modules from `state.step` on until one waits for a job or the list ends.
    fn proceed(&mut self) {
        loop {
            if self.state.ended {
                return;
            }
            let i = self.state.step;
            if i >= self.list.len() {
                let result = self.previous(i);
                self.end(JobStatus::Success, result);
                return;
            }
            let m = &self.list[i];
            self.set_module(i, ModuleState::new(&m.id, self.ctx.now));
            if let Some(expr) = &m.skip_if {
                let t = InputTransform::Javascript { expr: expr.clone() };
                let Some(skip) = self.eval_or_fail(i, "skip_if", &t) else { return };
                if truthy(&skip) {
                    let prev = self.previous(i);
                    let s = &mut self.state.modules[i];
                    s.status = ModuleStatus::Skipped;
                    s.result = Some(prev);
                    s.completed_at = Some(self.ctx.now);
                    self.state.step = i + 1;
                    continue;
                }
            }
            let Some(sleep) = self.seconds(i, "sleep", m.sleep.as_ref()) else { return };
            let delay_ms = sleep.map_or(0, |s| (s * 1000.0) as i64);
            match self.start_module(i, delay_ms) {
                Next::Continue => continue,
                Next::Wait => return,
            }
        }
    }

    /// Starts module `i`: its job(s), or its result at once (identity,
    /// empty loops and branches).
    fn start_module(&mut self, i: usize, delay_ms: i64) -> Next {
        let m = self.list[i].clone();
        match &m.value {
            ModuleValue::Identity => {
                let prev = self.previous(i);
                self.module_done(i, prev)
            }
            ModuleValue::RawScript { input_transforms, tag, .. } => {
                self.run_step(i, StepCode::Inline, input_transforms, tag.clone(), delay_ms)
            }
            ModuleValue::Script { path, hash, input_transforms, tag } => {
                let code = StepCode::Saved { path: path.clone(), hash: hash.clone() };
                self.run_step(i, code, input_transforms, tag.clone(), delay_ms)
            }
            ModuleValue::WaitForWebhook { webhook, matches, timeout_s } => {
                // The values are resolved now: events before this moment are not its.
                let Some(resolved) = self.args(i, matches) else { return Next::Wait };
                let job = JobId::new();
                self.state.modules[i].job = Some(job);
                self.actions.push(Action::WaitWebhook {
                    step_id: m.id.clone(),
                    job,
                    webhook: webhook.clone(),
                    matches: resolved.into_iter().collect(),
                    timeout_s: *timeout_s,
                });
                Next::Wait
            }
            ModuleValue::Flow { path, input_transforms } => {
                let Some(args) = self.args(i, input_transforms) else { return Next::Wait };
                let job = JobId::new();
                self.state.modules[i].job = Some(job);
                self.actions.push(Action::RunSubflow {
                    step_id: m.id.clone(),
                    job,
                    path: path.clone(),
                    args,
                    delay_ms,
                });
                Next::Wait
            }
            ModuleValue::ForLoop { iterator, parallel, parallelism, .. } => {
                let Some(items) = self.eval_or_fail(i, "iterator", iterator) else { return Next::Wait };
                let Value::Array(items) = items else {
                    let kind = match &items {
                        Value::Null => "null",
                        Value::Object(_) => "an object",
                        Value::String(_) => "a string",
                        Value::Number(_) => "a number",
                        Value::Bool(_) => "a boolean",
                        Value::Array(_) => "an array",
                    };
                    let message = format!("step '{}': the iterator must give an array, but it gave {kind}", m.id);
                    self.fail_module(i, flow_error(&m.id, "IteratorError", message));
                    return Next::Wait;
                };
                if items.is_empty() {
                    return self.module_done(i, json!([]));
                }
                let width = if *parallel {
                    match parallelism {
                        None => items.len(),
                        Some(t) => {
                            let Some(v) = self.eval_or_fail(i, "parallelism", t) else { return Next::Wait };
                            v.as_u64().filter(|n| *n > 0).map_or(items.len(), |n| n as usize)
                        }
                    }
                } else {
                    1
                };
                let node = crate::locate::loop_node(&m.id);
                for (k, item) in items.iter().enumerate() {
                    self.actions.push(Action::RunNested {
                        step_id: m.id.clone(),
                        job: JobId::new(),
                        node: node.clone(),
                        index: k as i64,
                        iter: Some(json!({"value": item, "index": k})),
                        previous: item.clone(),
                        parked: k >= width,
                        delay_ms,
                    });
                }
                let total = items.len() as i64;
                self.state.modules[i].iter =
                    Some(IterState { total, done: 0, next: width.min(items.len()) as i64, failed: 0, stopped: false });
                Next::Wait
            }
            ModuleValue::WhileLoop { .. } => {
                self.state.modules[i].iter = Some(IterState { total: 1, done: 0, next: 1, failed: 0, stopped: false });
                self.run_iteration(i, 0, delay_ms);
                Next::Wait
            }
            ModuleValue::BranchOne { branches, default } => {
                let scope = self.scope(i);
                let mut chosen = None;
                for (k, b) in branches.iter().enumerate() {
                    let t = InputTransform::Javascript { expr: b.expr.clone().unwrap_or_default() };
                    match self.eval(&scope, &t) {
                        Ok(v) if truthy(&v) => {
                            chosen = Some(k);
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let message =
                                format!("step '{}', the condition of branch {}: the expression {e}", m.id, k + 1);
                            self.fail_module(i, flow_error(&m.id, "InputTransformError", message));
                            return Next::Wait;
                        }
                    }
                }
                self.state.modules[i].branch = Some(match chosen {
                    Some(k) => crate::state::BranchChosen::Branch(k),
                    None => crate::state::BranchChosen::Default,
                });
                let (modules, node) = match chosen {
                    Some(k) => (&branches[k].modules, crate::locate::branch_node(&m.id, k)),
                    None => (default, crate::locate::default_node(&m.id)),
                };
                let prev = self.previous(i);
                if modules.is_empty() {
                    return self.module_done(i, prev);
                }
                self.actions.push(Action::RunNested {
                    step_id: m.id.clone(),
                    job: JobId::new(),
                    node,
                    index: 0,
                    iter: None,
                    previous: prev,
                    parked: false,
                    delay_ms,
                });
                Next::Wait
            }
            ModuleValue::BranchAll { branches, parallel } => {
                if branches.is_empty() {
                    return self.module_done(i, json!([]));
                }
                let width = if *parallel { branches.len() } else { 1 };
                let prev = self.previous(i);
                for k in 0..branches.len() {
                    self.actions.push(Action::RunNested {
                        step_id: m.id.clone(),
                        job: JobId::new(),
                        node: crate::locate::branch_node(&m.id, k),
                        index: k as i64,
                        iter: None,
                        previous: prev.clone(),
                        parked: k >= width,
                        delay_ms,
                    });
                }
                let total = branches.len() as i64;
                self.state.modules[i].iter =
                    Some(IterState { total, done: 0, next: width as i64, failed: 0, stopped: false });
                Next::Wait
            }
        }
    }

    fn run_step(
        &mut self,
        i: usize,
        code: StepCode,
        transforms: &Transforms,
        tag: Option<String>,
        delay_ms: i64,
    ) -> Next {
        let m = self.list[i].clone();
        let Some(args) = self.args(i, transforms) else { return Next::Wait };
        let Some(timeout) = self.seconds(i, "timeout", m.timeout.as_ref()) else { return Next::Wait };
        let job = JobId::new();
        self.state.modules[i].job = Some(job);
        let stream = self.ctx.is_root && i + 1 == self.list.len();
        if stream {
            self.state.stream_job = Some(job);
        }
        self.actions.push(Action::RunStep {
            step_id: m.id.clone(),
            job,
            code,
            args,
            timeout_s: timeout.map(|t| t.ceil() as u64),
            tag,
            delay_ms,
            failure: false,
            stream,
        });
        Next::Wait
    }

    /// Starts iteration `index` of the while loop at `i`.
    fn run_iteration(&mut self, i: usize, index: i64, delay_ms: i64) {
        let m = &self.list[i];
        let previous =
            if index == 0 { self.previous(i) } else { self.state.modules[i].result.clone().unwrap_or(Value::Null) };
        self.actions.push(Action::RunNested {
            step_id: m.id.clone(),
            job: JobId::new(),
            node: crate::locate::loop_node(&m.id),
            index,
            iter: Some(json!({"value": index, "index": index})),
            previous,
            parked: false,
            delay_ms,
        });
    }

    /// Module `i` succeeded with `result`: early return, suspend, stop, or go on.
    fn module_done(&mut self, i: usize, result: Value) -> Next {
        let m = self.list[i].clone();
        {
            // Moved into the state: copies are made below only where needed
            // (a result can be a whole event).
            let s = &mut self.state.modules[i];
            s.status = ModuleStatus::Success;
            s.result = Some(result);
            s.completed_at = Some(self.ctx.now);
        }
        if self.ctx.is_root && self.ctx.early_return == Some(m.id.as_str()) && self.state.early.is_none() {
            let early = self.state.modules[i].result.clone().unwrap_or(Value::Null);
            self.state.early = Some(early.clone());
            self.actions.push(Action::EarlyReturn { result: early });
        }
        let is_loop = matches!(m.value, ModuleValue::ForLoop { .. } | ModuleValue::WhileLoop { .. });
        let stop = if is_loop { m.stop_after_all_iters_if.as_ref() } else { m.stop_after_if.as_ref() };
        if let Some(stop) = stop {
            let result = self.state.modules[i].result.clone().unwrap_or(Value::Null);
            let scope = self.scope(i + 1).with("result", result.clone());
            match self.ev.eval(&stop.expr, &scope) {
                Ok(v) if truthy(&v) => {
                    if let Some(msg) = &stop.error_message {
                        self.end(JobStatus::Failure, flow_error(&m.id, "StoppedEarly", msg.clone()));
                    } else {
                        if stop.skip_if_stopped {
                            self.state.modules[i].status = ModuleStatus::Skipped;
                        }
                        self.end(JobStatus::Success, result);
                    }
                    return Next::Wait;
                }
                Ok(_) => {}
                Err(e) => {
                    let message = format!("step '{}', stop_after_if: the expression {e}", m.id);
                    self.fail_module(i, flow_error(&m.id, "InputTransformError", message));
                    return Next::Wait;
                }
            }
        }
        if let Some(suspend) = &m.suspend {
            let required = suspend.required_events.unwrap_or(1).max(1);
            let until = suspend.timeout.filter(|t| *t > 0).map(|t| self.ctx.now + (t as i64) * 1000);
            self.state.modules[i].status = ModuleStatus::Suspended;
            let job = self.state.modules[i].job;
            self.state.suspend =
                Some(SuspendState { module: i, job, required, events: Vec::new(), used: Vec::new(), until });
            // Resume events that came while the step still ran count now.
            let early: Vec<_> = self.state.pending_resumes.drain(..).filter(|p| Some(p.job) == job).collect();
            for p in early {
                self.resumed(p.job, p.resume_id, p.payload);
            }
            if self.state.suspend.is_some() {
                self.actions.push(Action::Suspend { until });
            }
            return Next::Wait;
        }
        self.state.step = i + 1;
        Next::Continue
    }

    /// Module `i` failed with `error`: retry, go on (`continue_on_error`), or fail the flow.
    fn fail_module(&mut self, i: usize, error: Value) {
        let m = self.list[i].clone();
        let error =
            if error.get("error").and_then(|e| e.get("step_id")).is_some() { error } else { step_error(&m.id, error) };
        let retriable =
            matches!(m.value, ModuleValue::RawScript { .. } | ModuleValue::Script { .. } | ModuleValue::Flow { .. })
                && self.state.modules[i].job.is_some();
        if retriable {
            let attempts = self.state.modules[i].attempts + 1;
            if let Some(delay) = m.retry.as_ref().and_then(|r| r.delay(attempts)) {
                self.state.modules[i].attempts = attempts;
                self.state.modules[i].status = ModuleStatus::Running;
                let delay_ms = delay.as_millis() as i64;
                let _ = self.start_module(i, delay_ms);
                return;
            }
        }
        {
            let s = &mut self.state.modules[i];
            s.status = ModuleStatus::Failure;
            s.result = Some(error.clone());
            s.completed_at = Some(self.ctx.now);
        }
        if m.continue_on_error {
            self.state.modules[i].status = ModuleStatus::Success;
            self.state.step = i + 1;
            self.proceed();
            return;
        }
        self.fail_flow(error);
    }

    /// The flow failed with `error`: its failure module runs first, if it has one.
    fn fail_flow(&mut self, error: Value) {
        let failure = self.failure.filter(|_| self.ctx.is_root && self.state.failure.is_none()).cloned();
        let Some(f) = failure else {
            self.end(JobStatus::Failure, error);
            return;
        };
        self.state.error = Some(error.clone());
        let (code, transforms, tag) = match &f.value {
            ModuleValue::RawScript { input_transforms, tag, .. } => (StepCode::Inline, input_transforms, tag.clone()),
            ModuleValue::Script { path, hash, input_transforms, tag } => {
                (StepCode::Saved { path: path.clone(), hash: hash.clone() }, input_transforms, tag.clone())
            }
            _ => {
                self.end(JobStatus::Failure, error);
                return;
            }
        };
        let mut scope = self.scope(self.state.step);
        scope = scope.with("previous_result", error.clone());
        let mut args = Map::new();
        for (name, t) in transforms {
            match self.eval(&scope, t) {
                Ok(v) => {
                    args.insert(name.clone(), v);
                }
                Err(e) => {
                    tracing_free_note(&mut args, name, &e);
                }
            }
        }
        let job = JobId::new();
        let mut s = ModuleState::new(&f.id, self.ctx.now);
        s.job = Some(job);
        self.state.failure = Some(s);
        self.actions.push(Action::RunStep {
            step_id: f.id.clone(),
            job,
            code,
            args,
            timeout_s: None,
            tag,
            delay_ms: 0,
            failure: true,
            stream: false,
        });
    }

    fn end(&mut self, status: JobStatus, result: Value) {
        if self.state.ended {
            return;
        }
        self.state.ended = true;
        self.actions.push(Action::End { status, result });
    }

    fn ended(&mut self, step_id: &str, job: JobId, index: Option<i64>, status: JobStatus, result: Value) {
        // The failure module's own end ends the flow.
        if let Some(f) = self.state.failure.as_mut().filter(|f| f.id == step_id && f.job == Some(job)) {
            f.status = if status == JobStatus::Success { ModuleStatus::Success } else { ModuleStatus::Failure };
            f.result = Some(result.clone());
            f.completed_at = Some(self.ctx.now);
            let outcome =
                if status == JobStatus::Success { result } else { self.state.error.clone().unwrap_or(result) };
            self.end(JobStatus::Failure, outcome);
            return;
        }
        let i = self.state.step;
        let Some(m) = self.list.get(i).filter(|m| m.id == step_id).cloned() else { return };
        if self.state.modules.get(i).is_none_or(|s| s.is_done() || s.status == ModuleStatus::Suspended) {
            return;
        }
        match &m.value {
            ModuleValue::ForLoop { skip_failures, .. } => {
                let Some(k) = index else { return };
                self.iteration_ended(i, &m, k, status, &result, *skip_failures);
            }
            ModuleValue::BranchAll { branches, .. } => {
                let Some(k) = index else { return };
                let skip = branches.get(k as usize).is_some_and(|b| b.skip_failure);
                self.iteration_ended(i, &m, k, status, &result, skip);
            }
            ModuleValue::WhileLoop { skip_failures, .. } => {
                let Some(k) = index else { return };
                let Some(it) = self.state.modules[i].iter.clone() else { return };
                if k != it.total - 1 {
                    return;
                }
                let mut it = it;
                it.done += 1;
                if status != JobStatus::Success {
                    it.failed += 1;
                    if !skip_failures {
                        self.state.modules[i].iter = Some(it);
                        self.fail_module(i, step_error(&m.id, result));
                        return;
                    }
                }
                // The loop's last result, so the next iteration's `previous_result` is it.
                self.state.modules[i].result = Some(result.clone());
                let stop = match &m.stop_after_if {
                    None => true,
                    Some(stop) => {
                        let scope = self.scope(i).with("result", result.clone());
                        match self.ev.eval(&stop.expr, &scope) {
                            Ok(v) => truthy(&v),
                            Err(e) => {
                                let message = format!("step '{}', stop_after_if: the expression {e}", m.id);
                                self.state.modules[i].iter = Some(it);
                                self.fail_module(i, flow_error(&m.id, "InputTransformError", message));
                                return;
                            }
                        }
                    }
                };
                if stop {
                    it.stopped = true;
                    self.state.modules[i].iter = Some(it);
                    self.actions.push(Action::Collect { step_id: m.id.clone() });
                } else {
                    let next = it.total;
                    it.total += 1;
                    it.next += 1;
                    self.state.modules[i].iter = Some(it);
                    self.run_iteration(i, next, 0);
                }
            }
            ModuleValue::BranchOne { .. } => {
                if status == JobStatus::Success {
                    if let Next::Continue = self.module_done(i, result) {
                        self.proceed();
                    }
                } else {
                    self.fail_module(i, step_error(&m.id, result));
                }
            }
            ModuleValue::RawScript { .. }
            | ModuleValue::Script { .. }
            | ModuleValue::Flow { .. }
            | ModuleValue::WaitForWebhook { .. } => {
                if self.state.modules[i].job != Some(job) {
                    return;
                }
                if status == JobStatus::Success {
                    if let Next::Continue = self.module_done(i, result) {
                        self.proceed();
                    }
                } else {
                    self.fail_module(i, result);
                }
            }
            ModuleValue::Identity => {}
        }
    }

    /// Iteration (or branch) `k` of the module at `i` ended.
    fn iteration_ended(&mut self, i: usize, m: &FlowModule, k: i64, status: JobStatus, result: &Value, skip: bool) {
        let Some(mut it) = self.state.modules[i].iter.clone() else { return };
        if k < 0 || k >= it.next {
            return;
        }
        it.done += 1;
        if status != JobStatus::Success {
            it.failed += 1;
            if !skip {
                self.state.modules[i].iter = Some(it);
                self.fail_module(i, step_error(&m.id, result.clone()));
                return;
            }
        }
        // A for loop's `stop_after_if` is tested after each iteration: a break.
        if let (ModuleValue::ForLoop { .. }, Some(stop)) = (&m.value, &m.stop_after_if) {
            if status == JobStatus::Success && !it.stopped {
                let scope = self.scope(i).with("result", result.clone());
                match self.ev.eval(&stop.expr, &scope) {
                    Ok(v) if truthy(&v) => it.stopped = true,
                    Ok(_) => {}
                    Err(e) => {
                        let message = format!("step '{}', stop_after_if: the expression {e}", m.id);
                        self.state.modules[i].iter = Some(it);
                        self.fail_module(i, flow_error(&m.id, "InputTransformError", message));
                        return;
                    }
                }
            }
        }
        if !it.stopped && it.next < it.total {
            self.actions.push(Action::Activate { step_id: m.id.clone(), index: it.next });
            it.next += 1;
        }
        let all_in = if it.stopped { it.done >= it.next } else { it.done >= it.total };
        self.state.modules[i].iter = Some(it);
        if all_in {
            self.actions.push(Action::Collect { step_id: m.id.clone() });
        }
    }

    fn collected(&mut self, step_id: &str, results: Vec<(JobStatus, Value)>) {
        let i = self.state.step;
        if self.list.get(i).is_none_or(|m| m.id != step_id) {
            return;
        }
        if self.state.modules.get(i).is_none_or(|s| s.is_done()) {
            return;
        }
        let result = Value::Array(results.into_iter().map(|(_, v)| v).collect());
        if let Next::Continue = self.module_done(i, result) {
            self.proceed();
        }
    }

    fn resumed(&mut self, job: JobId, resume_id: u32, payload: Value) {
        if self.state.suspend.as_ref().is_none_or(|s| s.job != Some(job)) {
            // Its step still runs: the event waits for the suspend to begin.
            if self.state.resume_check(job, resume_id) == crate::state::ResumeCheck::Accept {
                self.state.pending_resumes.push(crate::state::PendingResume { job, resume_id, payload });
            }
            return;
        }
        let Some(mut s) = self.state.suspend.take() else { return };
        if s.used.contains(&resume_id) {
            self.state.suspend = Some(s);
            return;
        }
        s.used.push(resume_id);
        s.events.push(payload);
        if (s.events.len() as u32) < s.required {
            self.state.suspend = Some(s);
            return;
        }
        let i = s.module;
        self.state.resumes = s.events;
        if let Some(m) = self.state.modules.get_mut(i) {
            m.status = ModuleStatus::Success;
        }
        self.state.step = i + 1;
        self.proceed();
    }
}
