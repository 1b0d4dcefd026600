/** The web view's port on 127.0.0.1 (mesh web, mesh up): a config-free constant, cheap to import from the CLI. */
export const DEFAULT_WEB_PORT = 9470;
