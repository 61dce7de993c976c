package io.github.cdcoutboxsaga.eureka;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.config.Customizer;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.http.SessionCreationPolicy;
import org.springframework.security.core.userdetails.User;
import org.springframework.security.core.userdetails.UserDetailsService;
import org.springframework.security.crypto.password.PasswordEncoder;
import org.springframework.security.provisioning.InMemoryUserDetailsManager;
import org.springframework.security.web.SecurityFilterChain;

/**
 * HTTP basic for everything the registry serves (the REST API under /eureka and the dashboard) except
 * {@code /actuator/health}, which says UP or DOWN and nothing more, for health checks. One user: its name
 * from {@code EUREKA_USERNAME} (default {@code eureka}), its password from {@code EUREKA_PASSWORD} or from
 * the file {@code EUREKA_PASSWORD_FILE} names. There is no default password: without one the server does
 * not start.
 */
@Configuration
public class RegistrySecurity {

  @Bean
  SecurityFilterChain registryFilterChain(HttpSecurity http) throws Exception {
    http.authorizeHttpRequests(requests -> requests
            .requestMatchers("/actuator/health").permitAll()
            .anyRequest().authenticated())
        .httpBasic(Customizer.withDefaults())
        // Eureka's clients send no CSRF token; Spring Cloud's documentation switches CSRF off for /eureka/**.
        .csrf(csrf -> csrf.ignoringRequestMatchers("/eureka/**"))
        // Every client sends its credentials on every request and none keeps a cookie: a session per
        // heartbeat would only fill the memory.
        .sessionManagement(sessions -> sessions.sessionCreationPolicy(SessionCreationPolicy.STATELESS));
    return http.build();
  }

  @Bean
  UserDetailsService registryUser(
      @Value("${EUREKA_USERNAME:eureka}") String username,
      @Value("${EUREKA_PASSWORD:}") String password,
      @Value("${EUREKA_PASSWORD_FILE:}") String passwordFile,
      PasswordEncoder encoder) throws IOException {
    String secret = password(password, passwordFile);
    return new InMemoryUserDetailsManager(
        User.withUsername(username.trim()).password(encoder.encode(secret)).roles("REGISTRY").build());
  }

  private static String password(String value, String file) throws IOException {
    if (!value.isEmpty() && !file.isEmpty()) {
      throw new IllegalStateException("set EUREKA_PASSWORD or EUREKA_PASSWORD_FILE, not both");
    }
    String password = file.isEmpty() ? value : Files.readString(Path.of(file), StandardCharsets.UTF_8).trim();
    if (password.length() < 16) {
      throw new IllegalStateException(
          "the registry needs a password of 16 or more characters in EUREKA_PASSWORD or in the file EUREKA_PASSWORD_FILE names");
    }
    return password;
  }

  /**
   * SHA-256 digests compared in constant time. The password is a long random secret, not something a
   * person chose, so a deliberately slow hash (bcrypt) protects nothing here and would cost every
   * heartbeat and every registry read a few tens of milliseconds of CPU.
   */
  @Bean
  PasswordEncoder registryPasswordEncoder() {
    return new PasswordEncoder() {
      @Override
      public String encode(CharSequence raw) {
        return HexFormat.of().formatHex(sha256(raw));
      }

      @Override
      public boolean matches(CharSequence raw, String encoded) {
        return raw != null && encoded != null && MessageDigest.isEqual(sha256(raw), HexFormat.of().parseHex(encoded));
      }
    };
  }

  private static byte[] sha256(CharSequence value) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(value.toString().getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
