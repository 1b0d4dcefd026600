import { isAbsolute } from "node:path";
import { z } from "zod";
import { isIdentity, optionLike, repoNameFrom } from "../../../subjects/mod.js";
import { expandHome } from "../../base/files.js";

/**
 * One shared repo as the config lists it (`repos: [{ path, remote, name? }]`): a local clone and
 * the remote it follows. The only place a git-fetch action or a pinned job finds a path: never in
 * an event or a job.
 */
export const repoSchema = z
  .object({
    /** The clone on this machine (absolute, or ~/…). */
    path: z
      .string()
      .min(1)
      .transform((p) => expandHome(p))
      .refine((p) => isAbsolute(p), { message: "must be an absolute path (or ~/…)" })
      .refine((p) => !/[\0-\x1f\x7f]/.test(p), { message: "contains a control character" }),
    /** The shared remote's URL, as the clone's `git remote -v` shows it (credentials are ignored when comparing). */
    remote: z
      .string()
      .min(1)
      .max(2048)
      .superRefine((u, ctx) => {
        const bad = optionLike("remote", u);
        if (bad) ctx.addIssue({ code: "custom", message: bad });
      }),
    /** What jobs call it (`mesh job submit --repo <name>`); default: the last part of the path. */
    name: z.string().refine(isIdentity, { message: "repo names are lowercase letters, digits and dashes" }).optional(),
  })
  .strict()
  .transform((r, ctx) => {
    const name = r.name ?? repoNameFrom(r.path);
    if (!isIdentity(name)) {
      ctx.addIssue({ code: "custom", path: ["name"], message: `cannot use ${JSON.stringify(name)} as the repo's name: give it one (lowercase letters, digits and dashes)` });
      return z.NEVER;
    }
    return { path: r.path, remote: r.remote, name };
  });
export type RepoConfig = z.infer<typeof repoSchema>;

export const reposSchema = z.array(repoSchema).superRefine((repos, ctx) => {
  const seen = new Set<string>();
  repos.forEach((r, i) => {
    if (seen.has(r.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate repo name ${r.name}` });
    seen.add(r.name);
  });
});
