// Sign-in with an OpenID Connect provider, in headless Chromium at phone width: the
// sign-in page's "Sign in with Sandbox ID" button, the provider's page (the sandbox's
// issuer), and back to the console signed in; then a sign-in cancelled at the provider.
//
// Usage: node oidc_sign_in.mjs BASE_URL EMAIL
//   BASE_URL  the console, configured with the sandbox's issuer (CONSOLE_OIDC_*)
//   EMAIL     an account of the console
import { expect, expectNoSidewaysScroll, run } from './lib.mjs';

const [base, email] = process.argv.slice(2);

await run('oidc-sign-in', async (page) => {
  await page.goto(`${base}/console/sign-in`);
  await page.getByRole('link', { name: 'Sign in with Sandbox ID' }).click();

  // At the provider (another origin), then back.
  await page.getByRole('heading', { name: 'Sandbox ID' }).waitFor();
  expect(!page.url().startsWith(base), `at the provider, not the console (${page.url()})`);
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Welcome' }).waitFor();
  expect(page.url() === `${base}/console`, `home after the callback (${page.url()})`);
  expect(await page.getByText(email).count() > 0, 'signed in as the account');
  await expectNoSidewaysScroll(page);
  await page.getByRole('button', { name: 'Sign out' }).click();

  // Cancelled at the provider: back, not signed in.
  await page.getByRole('link', { name: 'Sign in with Sandbox ID' }).click();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('heading', { name: 'Sign-in was cancelled' }).waitFor();
  await page.goto(`${base}/console`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
});
