//! `drip jobs list` and `drip jobs retry`: what the durable job queue holds, and queuing a
//! dead job again once its cause is fixed.

use anyhow::{Context as _, Result, bail};
use drip::Drip;
use drip_core::JobId;
use drip_core::clock::{Clock as _, SystemClock};
use drip_core::jobs::model::{Job, JobState};

/// A `--state` value: `queued`, `running` or `dead`.
pub(crate) fn parse_state(text: &str) -> Result<JobState, String> {
    JobState::parse(text).map_err(|_| {
        let names: Vec<&str> = JobState::ALL.into_iter().map(JobState::as_str).collect();
        format!("one of {}", names.join(", "))
    })
}

/// Prints at most `limit` jobs (those in `state`, or all), due first, one per line; or
/// says that there are none.
pub(crate) async fn list(drip: &Drip, state: Option<JobState>, limit: u32) -> Result<()> {
    let jobs = drip.queue.list(state, limit).await.context("cannot list the jobs")?;
    if jobs.is_empty() {
        match state {
            Some(state) => println!("no {state} jobs"),
            None => println!("no jobs"),
        }
        return Ok(());
    }
    println!("{:<27} {:<14} {:<7} {:>8}  {:<20}  last_error", "id", "kind", "state", "attempts", "run_at");
    for job in &jobs {
        println!("{}", line(job));
    }
    Ok(())
}

/// Queues the dead job `id` again, due now, with its attempts reset.
pub(crate) async fn retry(drip: &Drip, id: &str) -> Result<()> {
    let Ok(job) = JobId::parse(id) else { bail!("{id:?} is not a job id (see `drip jobs list`)") };
    if !drip.queue.retry(&job, SystemClock.now()).await.context("cannot retry the job")? {
        bail!("there is no dead job {job} (see `drip jobs list --state dead`)");
    }
    println!("queued job {job} again; a running server takes it up at its next poll");
    Ok(())
}

/// One job as a line: its last error is flattened onto it.
fn line(job: &Job) -> String {
    let error = job.last_error.as_deref().unwrap_or("-").replace(['\n', '\r'], " ");
    format!(
        "{:<27} {:<14} {:<7} {:>8}  {:<20}  {error}",
        job.id.to_string(),
        job.task.kind().as_str(),
        job.state.as_str(),
        job.attempts,
        job.run_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}
