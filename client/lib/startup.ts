import { ConfigError, readConfig } from './config'

// A missing or malformed API_BASE_URL stops the server at start with a message
// naming the variable, rather than failing on every page. The build imports
// this too, and needs no configuration.
if (process.env.NEXT_PHASE !== 'phase-production-build') {
  try {
    const config = readConfig()
    console.log(
      `client: API at ${config.apiBaseUrl}; payments ${
        config.stripePublishableKey ? 'with Stripe Elements' : 'in test mode (test card)'
      }`,
    )
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(`client: ${err.message}`)
    process.exit(1)
  }
}
