/** One line of `mesh init`'s report. */
export type StepStatus = "created" | "updated" | "unchanged" | "done" | "skipped" | "warning" | "failed" | "would";
export interface Step {
  step: string;
  status: StepStatus;
  detail: string;
}
