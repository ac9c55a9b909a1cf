/**
 * Log in, transfer, read the audit — with @custos/client.
 *
 *   AGENT_EMAIL=agent@example.com node dist/examples/login_transfer_audit.js BASE_URL RECIPIENT AMOUNT
 *
 * The login code is read from stdin (type it from the email; on a development server it is in
 * the data dir's outbox). Prints a JSON summary on stdout.
 */
import { createInterface } from "node:readline";
import { anonymous, connect, expectOk, newIdempotencyKey } from "../src/index.js";

async function readLine(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    rl.close();
    return line.trim();
  }
  throw new Error("no login code on stdin");
}

async function main(): Promise<void> {
  const [baseUrl, recipient, amount] = process.argv.slice(2);
  const email = process.env.AGENT_EMAIL ?? "";

  // 1. Log in: a code goes to the email address; exchange it for a session token.
  const anon = anonymous(baseUrl);
  const sent = await anon.POST("/v1/auth/otp", { body: { email } });
  if (!sent.response.ok) throw new Error(`otp: ${sent.response.status}`);
  const code = await readLine("login code: ");
  const session = expectOk(await anon.POST("/v1/auth/verify", { body: { email, code } }));
  const client = connect(baseUrl, session.token);

  // 2. Transfer, with an idempotency key; the retry returns the same transaction.
  const key = newIdempotencyKey();
  const transfer = () =>
    client.POST("/v1/wallets/me/actions/transfer", {
      params: { header: { "Idempotency-Key": key } },
      body: { chain: "solana", to: recipient, asset: "SOL", amount },
    });
  const first = expectOk(await transfer());
  const again = expectOk(await transfer());
  if (!("tx" in first) || !("tx" in again)) throw new Error(`not confirmed: ${JSON.stringify(first)}`);

  // 3. Read the audit trail and find the transfer in it.
  const page = expectOk(
    await client.GET("/v1/wallets/me/audit", { params: { query: { limit: 1000 } } }),
  );
  console.log(
    JSON.stringify({
      tx: first.tx,
      status: first.status,
      same_tx_on_retry: again.tx === first.tx,
      audit_actions: page.records.filter((r) => r.tx === first.tx).map((r) => r.action),
    }),
  );
}

main().catch((e) => {
  console.error(String(e));
  process.exit(1);
});
