/*
 * S3Store: puts whole objects with the AWS SDK's S3 client. Credentials come
 * from the SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in
 * the Connect worker's environment, a profile, or an instance/pod role), so
 * no secret is ever in a connector configuration.
 */
package dev.meterflow.connect;

import java.net.URI;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Base64;

import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;

final class S3Store implements AutoCloseable {
    private final S3Client s3;
    private final String bucket;

    S3Store(S3SinkConfig cfg) {
        bucket = cfg.bucket();
        S3ClientBuilder b = S3Client.builder()
                .region(Region.of(cfg.region()))
                .httpClient(UrlConnectionHttpClient.builder()
                                    .connectionTimeout(Duration.ofSeconds(10))
                                    .socketTimeout(Duration.ofSeconds(60))
                                    .build())
                .forcePathStyle(cfg.pathStyle())
                // Content-MD5 (below) instead of the SDK's newer trailing
                // checksums, which not every S3-compatible server speaks.
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .credentialsProvider(DefaultCredentialsProvider.builder().build());
        if (!cfg.endpoint().isEmpty())
            b.endpointOverride(URI.create(cfg.endpoint()));
        s3 = b.build();
    }

    /** One PUT: S3 replaces an object whole, so a reader never sees half of one. */
    void put(String key, byte[] body, String contentType) {
        s3.putObject(PutObjectRequest.builder()
                             .bucket(bucket)
                             .key(key)
                             .contentType(contentType)
                             .contentMD5(md5(body))
                             .build(),
                     RequestBody.fromBytes(body));
    }

    private static String md5(byte[] b) {
        try {
            return Base64.getEncoder().encodeToString(MessageDigest.getInstance("MD5").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        s3.close();
    }
}
