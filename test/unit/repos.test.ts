import { describe, expect, it } from "vitest";
import { normalizeRemote, optionLike, parsePinLine, refNameRefusal, stripCredentials } from "../../subjects/mod.js";

describe("shared repos: remote URLs and git arguments", () => {
  it("stripCredentials removes an http user and token, keeps an ssh login name but never its password", () => {
    expect(stripCredentials("https://user:ghp_secret@github.com/a/cackles.git")).toBe("https://github.com/a/cackles.git");
    expect(stripCredentials("https://ghp_secret@github.com/a/cackles")).toBe("https://github.com/a/cackles");
    expect(stripCredentials("ssh://git:pw@github.com/a/cackles.git")).toBe("ssh://git@github.com/a/cackles.git");
    expect(stripCredentials("git@github.com:a/cackles.git")).toBe("git@github.com:a/cackles.git");
    expect(stripCredentials("file:///srv/git/cackles.git")).toBe("file:///srv/git/cackles.git");
  });

  it("normalizeRemote makes one repo's spellings equal (credentials, .git, trailing slash, host case, scp-like ssh) and keeps different repos apart", () => {
    const one = ["https://github.com/a/cackles", "https://tok@GitHub.com/a/cackles.git", "https://github.com/a/cackles/"].map(normalizeRemote);
    expect(new Set(one)).toEqual(new Set(["https://github.com/a/cackles"]));
    expect(normalizeRemote("git@github.com:a/cackles.git")).toBe(normalizeRemote("ssh://git@github.com/a/cackles"));
    expect(normalizeRemote("file:///srv/git/cackles.git/")).toBe("file:///srv/git/cackles");
    expect(normalizeRemote("https://github.com/a/cackles")).not.toBe(normalizeRemote("https://github.com/b/cackles"));
  });

  it("values that would read as git options, control characters and invalid ref names are refused with the reason", () => {
    expect(optionLike("remote", "--upload-pack=touch /tmp/x")).toBe('remote "--upload-pack=touch /tmp/x" starts with "-" (it would be read as a git option)');
    expect(optionLike("remote", "file:///a\nb")).toBe('remote "file:///a\\nb" contains a control character');
    expect(optionLike("remote", "file:///srv/git/cackles.git")).toBeUndefined();
    expect(refNameRefusal("refs/heads/main")).toBeUndefined();
    expect(refNameRefusal("-c")).toBe('ref "-c" starts with "-" (it would be read as a git option)');
    expect(refNameRefusal("main")).toBe('ref "main" is not under refs/');
    expect(refNameRefusal("refs/heads/../x")).toBe('ref "refs/heads/../x" is not a valid ref name');
  });

  it("parsePinLine reads a leading '[repo <name> at <ref>]' line (the native form of --repo/--at) and leaves any other text alone", () => {
    expect(parsePinLine("[repo cackles at main]\nrun the tests")).toEqual({ pin: { repo: "cackles", at: "main" }, task: "run the tests" });
    expect(parsePinLine("[repo cackles at 0123456789abcdef0123456789abcdef01234567]")).toEqual({ pin: { repo: "cackles", at: "0123456789abcdef0123456789abcdef01234567" }, task: "" });
    expect(parsePinLine("run the tests [repo cackles at main]")).toEqual({ task: "run the tests [repo cackles at main]" });
    expect(parsePinLine("[repo cackles at main] and more")).toEqual({ task: "[repo cackles at main] and more" });
  });
});
