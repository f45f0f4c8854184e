<?php
/**
 * Simplified media upload handler modelled after wp_handle_upload() (style reproduction).
 *
 * @package WordPress
 * @subpackage Administration
 */

function acme_handle_upload( &$file, $overrides = false ) {
	$upload_error_handler = 'wp_handle_upload_error';
	if ( isset( $overrides['upload_error_handler'] ) && is_callable( $overrides['upload_error_handler'] ) ) {
		$upload_error_handler = $overrides['upload_error_handler'];
	}

	if ( ! isset( $file['error'] ) || $file['error'] > 0 ) {
		return call_user_func_array( $upload_error_handler, array( &$file, __( 'File upload error.' ) ) );
	}

	if ( ! is_uploaded_file( $file['tmp_name'] ) ) {
		return call_user_func_array( $upload_error_handler, array( &$file, __( 'Specified file failed upload test.' ) ) );
	}

	if ( ! current_user_can( 'upload_files' ) ) {
		return call_user_func_array( $upload_error_handler, array( &$file, __( 'Sorry, you are not allowed to upload files.' ) ) );
	}

	$wp_filetype     = wp_check_filetype_and_ext( $file['tmp_name'], $file['name'] );
	$ext             = empty( $wp_filetype['ext'] ) ? '' : $wp_filetype['ext'];
	$type            = empty( $wp_filetype['type'] ) ? '' : $wp_filetype['type'];
	$proper_filename = empty( $wp_filetype['proper_filename'] ) ? '' : $wp_filetype['proper_filename'];

	if ( $proper_filename ) {
		$file['name'] = $proper_filename;
	}

	if ( ( ! $type || ! $ext ) && ! current_user_can( 'unfiltered_upload' ) ) {
		return call_user_func_array( $upload_error_handler, array( &$file, __( 'Sorry, you are not allowed to upload this file type.' ) ) );
	}

	$uploads = wp_upload_dir();
	if ( ! ( $uploads && false === $uploads['error'] ) ) {
		return call_user_func_array( $upload_error_handler, array( &$file, $uploads['error'] ) );
	}

	$filename = wp_unique_filename( $uploads['path'], sanitize_file_name( $file['name'] ) );
	$new_file = $uploads['path'] . "/$filename";

	$move_new_file = @move_uploaded_file( $file['tmp_name'], $new_file );
	if ( false === $move_new_file ) {
		return $upload_error_handler( $file, sprintf( __( 'The uploaded file could not be moved to %s.' ), $uploads['path'] ) );
	}

	$stat  = stat( dirname( $new_file ) );
	$perms = $stat['mode'] & 0000666;
	chmod( $new_file, $perms );

	$url = $uploads['url'] . "/$filename";

	return apply_filters( 'wp_handle_upload', array( 'file' => $new_file, 'url' => $url, 'type' => $type ), 'upload' );
}
