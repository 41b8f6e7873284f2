// Drip's web UI in headless Chromium (playwright-core), run by `cargo xtask browser`
// against a spawned drip: each scenario gets fresh browser contexts, fails on any console
// error or uncaught exception, and the suite writes screenshots of the main screens to
// DRIP_BROWSER_SCREENSHOTS. Configured by the environment the xtask sets:
// DRIP_BROWSER_BASE (the server), DRIP_BROWSER_CHROMIUM (the browser),
// DRIP_BROWSER_MODULES (the node_modules holding playwright-core).
// The scenarios live in scenarios/*.mjs, the steps they share in harness.mjs; they run in
// this order (the top-users scenario expects to run before the big uploads).

import { browser } from './harness.mjs'
import { scenarios as account } from './scenarios/account.mjs'
import { scenarios as files } from './scenarios/files.mjs'
import { scenarios as sharing } from './scenarios/sharing.mjs'
import { scenarios as transfers } from './scenarios/transfers.mjs'
import { scenarios as phone } from './scenarios/phone.mjs'

const scenarios = { ...account, ...files, ...sharing, ...transfers, ...phone }

/** Only the scenarios whose names contain DRIP_BROWSER_ONLY, when it is set (for development). */
const only = process.env.DRIP_BROWSER_ONLY ?? ''
const chosen = Object.entries(scenarios).filter(([name]) => name.includes(only))
let failed = 0
for (const [name, scenario] of chosen) {
  const started = Date.now()
  try {
    await scenario()
    console.log(`PASS ${name} (${Date.now() - started} ms)`)
  } catch (error) {
    failed += 1
    console.log(`FAIL ${name}\n${error.stack ?? error}`)
  }
}
await browser.close()
console.log(`${chosen.length - failed} passed, ${failed} failed`)
process.exit(failed === 0 && chosen.length > 0 ? 0 : 1)
