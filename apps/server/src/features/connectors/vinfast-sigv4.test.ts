import { describe, expect, it } from 'vitest';
import {
  amzDateOf,
  EMPTY_SHA256,
  presignIotUrl,
  presignUrl,
  sigV4Sign,
  verifyIotPresigned,
} from './vinfast-sigv4.js';

/*
 * Vectors from AWS's published SigV4 test suite (docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html,
 * also shipped as aws-sig-v4-test-suite in the AWS SDKs, Apache-2.0) and the presigned-URL example of the S3
 * SigV4 documentation ("Example: presigned URL"). Only the inputs and expected signatures are repeated here.
 */
const SUITE = {
  secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  amzDate: '20150830T123600Z',
  region: 'us-east-1',
  service: 'service',
};

describe('SigV4 against AWS test-suite vectors', () => {
  const cases = [
    {
      name: 'get-vanilla',
      method: 'GET',
      query: [] as Array<[string, string]>,
      signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
      stringToSignHash: 'bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63',
    },
    {
      name: 'get-vanilla-query-order-key-case',
      method: 'GET',
      query: [
        ['Param2', 'value2'],
        ['Param1', 'value1'],
      ] as Array<[string, string]>,
      signature: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
      stringToSignHash: '816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0',
    },
    {
      name: 'post-vanilla',
      method: 'POST',
      query: [] as Array<[string, string]>,
      signature: '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
      stringToSignHash: null,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = sigV4Sign(
        {
          method: c.method,
          path: '/',
          query: c.query,
          headers: { Host: 'example.amazonaws.com', 'X-Amz-Date': SUITE.amzDate },
          payloadHash: EMPTY_SHA256,
          amzDate: SUITE.amzDate,
          region: SUITE.region,
          service: SUITE.service,
        },
        SUITE.secret,
      );
      expect(out.signature).toBe(c.signature);
      if (c.stringToSignHash) {
        expect(out.stringToSign).toBe(
          `AWS4-HMAC-SHA256\n${SUITE.amzDate}\n20150830/us-east-1/service/aws4_request\n${c.stringToSignHash}`,
        );
      }
    });
  }

  it("reproduces the S3 documentation's presigned URL byte for byte", () => {
    const url = presignUrl({
      url: 'https://examplebucket.s3.amazonaws.com/test.txt',
      region: 'us-east-1',
      service: 's3',
      credentials: {
        accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      },
      nowMs: Date.UTC(2013, 4, 24),
      expiresS: 86_400,
      payloadHash: 'UNSIGNED-PAYLOAD',
    });
    expect(url).toBe(
      'https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
    );
  });
});

describe('the AWS IoT WebSocket URL', () => {
  const credentials = {
    accessKeyId: 'ASIAEXAMPLE',
    secretAccessKey: 'secret/with+chars',
    sessionToken: 'tok+en/=',
  };
  const now = Date.UTC(2026, 0, 1, 10, 0, 0);
  const lookup = (id: string) =>
    id === credentials.accessKeyId
      ? { secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken }
      : null;
  const check = (url: string, nowMs = now) => {
    const u = new URL(url);
    return verifyIotPresigned({
      path: u.pathname,
      search: u.searchParams,
      host: u.host,
      region: 'ap-southeast-1',
      nowMs,
      lookup,
    });
  };

  it('signs only host, for iotdevicegateway, and appends the token after the signature', () => {
    const url = presignIotUrl({
      url: 'wss://iot.example:8443/mqtt',
      region: 'ap-southeast-1',
      credentials,
      nowMs: now,
    });
    const params = [...new URL(url).searchParams.keys()];
    expect(params.slice(-2)).toEqual(['X-Amz-Signature', 'X-Amz-Security-Token']);
    expect(url).toContain(`X-Amz-Date=${amzDateOf(now)}`);
    expect(url).toContain('%2Fap-southeast-1%2Fiotdevicegateway%2Faws4_request');
    expect(url).toContain('X-Amz-SignedHeaders=host&');
    expect(new URL(url).searchParams.get('X-Amz-Security-Token')).toBe('tok+en/=');
    expect(check(url)).toEqual({ ok: true, accessKeyId: 'ASIAEXAMPLE' });
  });

  it('is refused with a wrong signature, once expired, without the token, or for another host', () => {
    const url = presignIotUrl({
      url: 'wss://iot.example/mqtt',
      region: 'ap-southeast-1',
      credentials,
      nowMs: now,
      expiresS: 60,
    });
    expect(check(url.replace(/X-Amz-Signature=[0-9a-f]/, 'X-Amz-Signature=x'))).toMatchObject({
      reason: 'bad_signature',
    });
    expect(check(url, now + 61_000)).toMatchObject({ reason: 'expired' });
    expect(check(url.replace(/&X-Amz-Security-Token=.*$/, ''))).toMatchObject({ reason: 'missing_token' });
    const other = new URL(url);
    expect(
      verifyIotPresigned({
        path: '/mqtt',
        search: other.searchParams,
        host: 'elsewhere',
        region: 'ap-southeast-1',
        nowMs: now,
        lookup,
      }),
    ).toMatchObject({ reason: 'bad_signature' });
    const signedWithWrongSecret = presignIotUrl({
      url: 'wss://iot.example/mqtt',
      region: 'ap-southeast-1',
      credentials: { ...credentials, secretAccessKey: 'nope' },
      nowMs: now,
    });
    expect(check(signedWithWrongSecret)).toMatchObject({ reason: 'bad_signature' });
  });
});
