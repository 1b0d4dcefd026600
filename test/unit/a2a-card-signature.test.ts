import { describe, expect, it } from "vitest";
import { createUser } from "@nats-io/nkeys";
import { verifyAgentCardSignature } from "@a2a-js/sdk";
import { signerFromSeed } from "../../subjects/signing.js";
import { peerCard } from "../../src/features/a2a-server/card.js";
import { jwkOfNkey, signCard } from "../../src/features/a2a-server/card-signature.js";

/**
 * Agent Cards signed with an identity's nkey (the key its envelopes are signed with), checked by
 * the A2A SDK's own verifier (verifyAgentCardSignature) with the public key the mesh's registry
 * lists for that identity.
 */
const signerOf = () => signerFromSeed(new TextDecoder().decode(createUser().getSeed()));
const card = () => peerCard({ self: "clawd", base: "http://127.0.0.1:9469", peer: "nova", version: "test" });

describe("Agent Card signatures", () => {
  it("a card signed with clawd's nkey passes the SDK's verifyAgentCardSignature with clawd's public key (kid = its public nkey)", async () => {
    const clawd = signerOf();
    const signed = signCard(card(), clawd);
    const kids: string[] = [];
    await verifyAgentCardSignature(async (kid) => {
      kids.push(kid);
      return jwkOfNkey(kid);
    })(signed);
    expect(kids).toEqual([clawd.publicKey]);
  });

  it("the SDK's verifier refuses a card changed after signing, and one signed by another key under clawd's kid", async () => {
    const clawd = signerOf();
    const lyra = signerOf();
    const byRegistry = async (kid: string) => {
      if (kid !== clawd.publicKey) throw new Error(`unknown kid ${kid}`);
      return jwkOfNkey(clawd.publicKey);
    };
    const changed = { ...signCard(card(), clawd), name: "nova (evil)" };
    await expect(verifyAgentCardSignature(byRegistry)(changed)).rejects.toThrow("No valid signatures found on agent card.");
    const forged = signCard(card(), { publicKey: clawd.publicKey, signBytes: (b) => lyra.signBytes(b) });
    await expect(verifyAgentCardSignature(byRegistry)(forged)).rejects.toThrow("No valid signatures found on agent card.");
  });

  it("jwkOfNkey refuses what is not an nkey public key", () => {
    expect(() => jwkOfNkey("not-a-key")).toThrow(/not an nkey/);
    expect(() => jwkOfNkey("UAAAA")).toThrow(/not an nkey public key/);
  });
});
