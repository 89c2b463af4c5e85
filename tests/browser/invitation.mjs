// An owner invites a teammate, who accepts from the emailed link, in two headless
// Chromium sessions at phone width: the owner's team page, the invitation email read
// from SES, the invitee's password, and the owner seeing the new person in the team.
//
// Usage: node invitation.mjs BASE_URL SES_URL OWNER_EMAIL INVITEE_EMAIL
//   OWNER_EMAIL  a confirmed owner whose password is lib.mjs's PASSWORD
import { PASSWORD, expect, expectNoSidewaysScroll, fromEmail, onApp, run } from './lib.mjs';

const [base, sesUrl, owner, invitee] = process.argv.slice(2);

await run('invitation', async (page, newPage) => {
  await page.goto(`${base}/console/sign-in`);
  await page.getByLabel('Email').fill(owner);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Team' }).click();
  await page.getByRole('heading', { name: 'Team', exact: true }).waitFor();

  await page.getByLabel('Their work email').fill(invitee);
  await page.getByLabel('Role', { exact: true }).selectOption({ label: 'Care agent' });
  await page.getByRole('button', { name: 'Send invitation' }).click();
  await page.getByRole('button', { name: `Withdraw the invitation of ${invitee}` }).waitFor();
  await expectNoSidewaysScroll(page);

  const link = await fromEmail(sesUrl, invitee, /\S*\/console\/join\?token=\S+/);
  const theirs = await newPage();
  await theirs.goto(onApp(base, link));
  await theirs.getByRole('heading', { name: /^Join / }).waitFor();
  expect(await theirs.getByText('Care agent').count() > 0, 'the role named');
  await theirs.getByLabel('Password').fill(PASSWORD);
  await theirs.getByRole('button', { name: 'Accept and sign in' }).click();
  await theirs.getByRole('heading', { name: 'Welcome' }).waitFor();
  expect(await theirs.getByText(`${invitee} · Care agent`).count() > 0, 'signed in as a care agent');
  expect(await theirs.getByRole('link', { name: 'Team' }).count() === 0, 'no team link for a care agent');

  await page.reload();
  expect(await page.getByRole('button', { name: `Remove ${invitee}` }).count() === 1, 'the new person in the team');
});
